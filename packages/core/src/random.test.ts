// Tests of createSeededRandom: the sequence of each seed is the one Expire-Span drew before the generator moved here, and state()/restore() resume it exactly.
import { describe, expect, test } from 'vitest';
import { EngramError } from './errors.js';
import { createSeededRandom, SeededRandomStateError } from './random.js';

/**
 * Draws 1-5 and draw 1000 of `createUniform(seed)` from packages/expire-span/src/random.ts, recorded
 * before the generator moved here (cached benchmark runs depend on these sequences).
 */
const RECORDED: readonly { seed: number; first: readonly number[]; thousandth: number }[] = [
  { seed: 0, first: [0.32352216937579215, 0.15220260922797024, 0.12531958287581801, 0.4782673285808414, 0.16315497923642397], thousandth: 0.49733565119095147 },
  { seed: 1, first: [0.004309797426685691, 0.6464851079508662, 0.14529557712376118, 0.6122999202925712, 0.23967826971784234], thousandth: 0.3226016939152032 },
  { seed: 42, first: [0.007303279126062989, 0.42513471585698426, 0.7564543820917606, 0.8160822936333716, 0.5256325567606837], thousandth: 0.8205481334589422 },
  { seed: 1234, first: [0.5767063689418137, 0.6032543308101594, 0.5445615802891552, 0.4025340382941067, 0.9202554849907756], thousandth: 0.8463646422605962 },
  { seed: 4294967295, first: [0.3742578597739339, 0.24367316719144583, 0.6740742085967213, 0.72231768630445, 0.6377471352461725], thousandth: 0.45557178603485227 },
  { seed: 2.5, first: [0.13053480722010136, 0.6945757472421974, 0.6388538118917495, 0.1206559925340116, 0.5854674309957772], thousandth: 0.4478450573515147 },
];

function draw(random: { next(): number }, count: number): number[] {
  return Array.from({ length: count }, () => random.next());
}

describe('createSeededRandom', () => {
  test.each(RECORDED)('seed $seed gives the recorded sequence', ({ seed, first, thousandth }) => {
    const random = createSeededRandom(seed);
    const values = draw(random, 1000);
    expect(values.slice(0, 5)).toEqual(first);
    expect(values[999]).toBe(thousandth);
  });

  test('seeds are taken modulo 2^32 and draws stay in [0, 1)', () => {
    expect(draw(createSeededRandom(-1), 5)).toEqual(RECORDED[4]?.first);
    expect(createSeededRandom(-1).seed).toBe(4294967295);
    for (const value of draw(createSeededRandom(7), 10_000)) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
    }
  });

  test('restore(state()) continues exactly where the state was taken, in a fresh generator too', () => {
    const straight = createSeededRandom(42);
    const expected = draw(straight, 20);
    const first = createSeededRandom(42);
    const head = draw(first, 7);
    const saved = JSON.parse(JSON.stringify(first.state())) as ReturnType<typeof first.state>;
    expect(saved.algorithm).toBe('xorshift32');
    const fresh = createSeededRandom(999);
    fresh.restore(saved);
    expect([...head, ...draw(fresh, 13)]).toEqual(expected);
    // The original keeps its own position.
    expect(draw(first, 13)).toEqual(expected.slice(7));
  });

  test('restore rejects what state() never returns, naming the value', () => {
    const random = createSeededRandom(3);
    const before = random.state();
    for (const bad of [null, 5, { algorithm: 'mulberry32', state: 5 }, { algorithm: 'xorshift32', state: 0 }, { algorithm: 'xorshift32', state: 2 ** 32 }, { algorithm: 'xorshift32', state: 1.5 }]) {
      let thrown: unknown;
      try {
        random.restore(bad as never);
      } catch (error) {
        thrown = error;
      }
      expect(SeededRandomStateError.isInstance(thrown)).toBe(true);
      expect(EngramError.isInstance(thrown)).toBe(true);
      expect((thrown as Error).message).toMatch(/^SeededRandom\.restore: expected .* got .*Pass a value returned by state\(\)\.$/);
    }
    expect(() => random.restore({ algorithm: 'xorshift32', state: 0 })).toThrow(/got \{"algorithm":"xorshift32","state":0\}/);
    expect(random.state()).toEqual(before);
  });
});
