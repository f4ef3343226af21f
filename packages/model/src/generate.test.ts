// Tests of sampling and generation (SPEC 6): greedy, temperature, top-k, top-p, seeds.
import * as tf from '@tensorflow/tfjs';
import { createRandom } from '@engram/attention';
import { disposeState } from '@engram/memory';
import { describe, expect, test } from 'vitest';
import { ModelInputError } from './errors.js';
import { generate, generateTokens, sampleFromLogits } from './generate.js';
import type { ModelStream } from './model.js';
import { createModel } from './model.js';
import { tinyConfig } from './test-helpers.js';

describe('sampleFromLogits', () => {
  const logits = [0.5, 2, -1, 1.9, 0];

  test('greedy and temperature 0 take the argmax', () => {
    const random = createRandom(1);
    expect(sampleFromLogits(logits, { strategy: 'greedy' }, random)).toBe(1);
    expect(sampleFromLogits(logits, { temperature: 0 }, random)).toBe(1);
  });

  test('sampling follows softmax(logits / temperature)', () => {
    const random = createRandom(2);
    const twoWay = [0, Math.log(3)];
    let ones = 0;
    for (let draw = 0; draw < 4000; draw++) ones += sampleFromLogits(twoWay, {}, random);
    expect(ones / 4000).toBeGreaterThan(0.72);
    expect(ones / 4000).toBeLessThan(0.78);
    // Temperature 2 flattens 3:1 into sqrt(3):1 (probability 0.634).
    ones = 0;
    for (let draw = 0; draw < 4000; draw++) ones += sampleFromLogits(twoWay, { temperature: 2 }, random);
    expect(ones / 4000).toBeGreaterThan(0.6);
    expect(ones / 4000).toBeLessThan(0.67);
  });

  test('top-k and top-p restrict the candidates', () => {
    const random = createRandom(3);
    const seenTopK = new Set<number>();
    const seenTopP = new Set<number>();
    for (let draw = 0; draw < 300; draw++) {
      seenTopK.add(sampleFromLogits(logits, { topK: 2, temperature: 5 }, random));
      seenTopP.add(sampleFromLogits(logits, { topP: 0.5, temperature: 1 }, random));
    }
    expect([...seenTopK].sort()).toEqual([1, 3]);
    // p(1) ~ 0.40, p(3) ~ 0.36: the nucleus of 0.5 holds exactly these two.
    expect([...seenTopP].sort()).toEqual([1, 3]);
    expect(sampleFromLogits(logits, { topK: 1 }, random)).toBe(1);
  });

  test('bad options are rejected', () => {
    const random = createRandom(0);
    expect(() => sampleFromLogits(logits, { topK: 0 }, random)).toThrow(ModelInputError);
    expect(() => sampleFromLogits(logits, { topP: 1.5 }, random)).toThrow(/topP/);
    expect(() => sampleFromLogits(logits, { temperature: -1 }, random)).toThrow(/temperature/);
    expect(() => sampleFromLogits([], {}, random)).toThrow(/empty/);
  });
});

describe('generate', () => {
  test('greedy generation equals repeated argmax of teacher-forced logits; seeded sampling is repeatable', () => {
    const before = tf.memory().numTensors;
    const model = createModel(tinyConfig({ segmentLength: 3 }));
    const prompt = [1, 2, 3, 4];
    const greedy = generate(model, prompt, { maxNewTokens: 6, strategy: 'greedy' });
    expect(greedy).toHaveLength(6);
    // Teacher forcing over prompt + generated tokens: each generated token is the argmax after its prefix.
    const stream = [...prompt, ...greedy];
    let state = model.initialState(1);
    const logits: number[][] = [];
    for (let start = 0; start < stream.length; start += 3) {
      const inputs = tf.tensor2d([stream.slice(start, start + 3)], undefined, 'int32');
      const result = model.forward(inputs, state);
      logits.push(...((result.logits.arraySync() as number[][][])[0] as number[][]));
      tf.dispose([inputs, result.logits]);
      state = result.state;
    }
    disposeState(state);
    greedy.forEach((token, index) => {
      const row = logits[prompt.length - 1 + index] as number[];
      expect(token).toBe(row.indexOf(Math.max(...row)));
    });
    const sampleA = generate(model, prompt, { maxNewTokens: 8, temperature: 1.5, seed: 7 });
    const sampleB = generate(model, prompt, { maxNewTokens: 8, temperature: 1.5, seed: 7 });
    expect(sampleA).toEqual(sampleB);
    expect(generate(model, prompt, { maxNewTokens: 0 })).toEqual([]);
    expect(() => generate(model, [], { maxNewTokens: 2 })).toThrow(/prompt/);
    expect(() => generate(model, [1], { maxNewTokens: -1 })).toThrow(/maxNewTokens/);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('generateTokens yields the tokens of generate one by one, shows the stream, and disposes it when stopped early', () => {
    const before = tf.memory().numTensors;
    const model = createModel(tinyConfig({ segmentLength: 3 }));
    const prompt = [1, 2, 3, 4];
    const options = { maxNewTokens: 7, temperature: 0.8, seed: 3 };
    const positions: number[] = [];
    let seen: ModelStream | null = null;
    const streamed: number[] = [];
    for (const token of generateTokens(model, prompt, options, (stream) => (seen = stream))) {
      streamed.push(token);
      positions.push((seen as ModelStream | null)?.position ?? -1);
    }
    expect(streamed).toEqual(generate(model, prompt, options));
    // The stream has read the prompt, then one more token per yielded token after the first.
    expect(positions).toEqual([4, 5, 6, 7, 8, 9, 10]);
    const early = generateTokens(model, prompt, options);
    expect(early.next().value).toBe(streamed[0]);
    early.return();
    expect(() => generateTokens(model, [], options).next()).toThrow(/prompt/);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
