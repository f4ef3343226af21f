// Tests of the SPEC 8 tasks against independent checks on the decoded tokens: copy equals payload, an interpreter reproduces printed values, a brute-force replay reproduces collision answers; plus batches, streams and resume.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { SeededRandom } from '../random.js';
import { TaskStream, generateTaskBatch, taskEpisodeAt } from './batches.js';
import { createObjectCollisionTask } from './collision.js';
import { createCopyTask } from './copy.js';
import { decodeTaskTokens, type LongRangeTask, type TaskEpisode } from './types.js';
import { createTopicRecallTask } from './topic-recall.js';
import { createVariableTrackingTask } from './variable-tracking.js';

function labelledPositions(episode: TaskEpisode): number[] {
  return [...episode.labelled].flatMap((flag, index) => (flag === 1 ? [index] : []));
}

describe('copy-after-delay', () => {
  const task = createCopyTask({ payloadLength: 6, delay: 20, alphabetSize: 5, distractorAlphabetSize: 3 });

  it('repeats the payload after D distractors and a marker; only the copy is labelled', () => {
    expect(task.episodeLength).toBe(2 * 6 + 20 + 2);
    for (let seed = 0; seed < 50; seed += 1) {
      const episode = task.sampleEpisode(new SeededRandom(seed));
      const names = decodeTaskTokens(task.vocabulary, episode.tokens);
      expect(names[0]).toBe('<start>');
      const payload = names.slice(1, 7);
      expect(payload.every((name) => name.startsWith('symbol:'))).toBe(true);
      expect(names.slice(7, 27).every((name) => name.startsWith('distractor:'))).toBe(true);
      expect(names[27]).toBe('<marker>');
      expect(names.slice(28)).toEqual(payload);
      expect(labelledPositions(episode)).toEqual([28, 29, 30, 31, 32, 33]);
    }
  });

  it('is deterministic per seed and varies across seeds', () => {
    const first = task.sampleEpisode(new SeededRandom(3));
    expect([...task.sampleEpisode(new SeededRandom(3)).tokens]).toEqual([...first.tokens]);
    expect([...task.sampleEpisode(new SeededRandom(4)).tokens]).not.toEqual([...first.tokens]);
  });

  it('rejects bad parameters', () => {
    expect(() => createCopyTask({ payloadLength: 0 })).toThrow(InvalidArgumentError);
    expect(() => createCopyTask({ alphabetSize: 1 })).toThrow(/alphabetSize/);
  });
});

/** An interpreter written independently of the generator: runs the decoded program text. */
function interpret(lines: string[]): number[] {
  const values = new Map<string, number>();
  const printed: number[] = [];
  for (const line of lines) {
    let match = /^([a-z]) = (\d+) ;$/.exec(line);
    if (match) {
      values.set(match[1] as string, Number(match[2]));
      continue;
    }
    match = /^([a-z]) \+= (\d+) ;$/.exec(line);
    if (match) {
      const current = values.get(match[1] as string);
      if (current === undefined) throw new Error(`increment of undefined ${match[1]}`);
      values.set(match[1] as string, (current + Number(match[2])) % 10);
      continue;
    }
    match = /^print ([a-z]) -> \d+$/.exec(line);
    if (match) {
      const current = values.get(match[1] as string);
      if (current === undefined) throw new Error(`print of undefined ${match[1]}`);
      printed.push(current);
      continue;
    }
    throw new Error(`unparsable line ${line}`);
  }
  return printed;
}

describe('variable-tracking', () => {
  const task = createVariableTrackingTask({ variables: 3, statements: 40 });

  it('labels exactly the printed values, which an independent interpreter reproduces', () => {
    let prints = 0;
    for (let seed = 0; seed < 40; seed += 1) {
      const episode = task.sampleEpisode(new SeededRandom(seed));
      const names = decodeTaskTokens(task.vocabulary, episode.tokens).slice(1);
      const lines: string[] = [];
      for (let index = 0; index < names.length; index += 4) {
        lines.push(
          names
            .slice(index, index + 4)
            .map((name) => name.replace(/^var:/, '').replace(/^value:/, ''))
            .join(' '),
        );
      }
      expect(lines.slice(0, 3).map((line) => line.split(' ')[0])).toEqual(['a', 'b', 'c']);
      const expected = interpret(lines);
      const labelled = labelledPositions(episode).map((position) => Number((task.vocabulary.tokens[episode.tokens[position] as number] as string).slice('value:'.length)));
      expect(labelled).toEqual(expected);
      // Every labelled token is the value slot of a print statement.
      for (const position of labelledPositions(episode)) expect(task.vocabulary.tokens[episode.tokens[position - 3] as number]).toBe('print');
      prints += expected.length;
    }
    expect(prints).toBeGreaterThan(40 * 37 * 0.2);
  });

  it('rejects probabilities that leave no room for prints', () => {
    expect(() => createVariableTrackingTask({ assignProbability: 0.5, incrementProbability: 0.5 })).toThrow(InvalidArgumentError);
    expect(() => createVariableTrackingTask({ variables: 27 })).toThrow(/variables/);
  });
});

describe('topic-recall', () => {
  const task = createTopicRecallTask({ topics: 4, symbolsPerTopic: 2, blockLength: 16, purity: 0.6, delay: 20, distractorAlphabetSize: 2 });

  /** Independent reading of an episode: the topic whose symbols are most frequent in the block. */
  function majorityTopic(names: string[]): number {
    const counts = [0, 0, 0, 0];
    for (const name of names.slice(1, 17)) {
      const topic = Math.floor(Number(name.replace('symbol:', '')) / 2);
      counts[topic] = (counts[topic] ?? 0) + 1;
    }
    return counts.indexOf(Math.max(...counts));
  }

  it('lays out block, distractors, query and the labelled topic; the block frequencies tell the topic', () => {
    expect(task.episodeLength).toBe(16 + 20 + 3);
    let agree = 0;
    const answers = [0, 0, 0, 0];
    for (let seed = 0; seed < 400; seed += 1) {
      const episode = task.sampleEpisode(new SeededRandom(seed));
      const names = decodeTaskTokens(task.vocabulary, episode.tokens);
      expect(names[0]).toBe('<start>');
      expect(names.slice(1, 17).every((name) => name.startsWith('symbol:'))).toBe(true);
      expect(names.slice(17, 37).every((name) => name.startsWith('distractor:'))).toBe(true);
      expect(names[37]).toBe('<query>');
      expect(labelledPositions(episode)).toEqual([38]);
      const topic = Number((names[38] as string).replace('topic:', ''));
      answers[topic] = (answers[topic] ?? 0) + 1;
      if (majorityTopic(names) === topic) agree += 1;
    }
    // Own-topic symbols are about 11 of 16, any other topic's about 1.6: the majority is almost always right.
    expect(agree / 400).toBeGreaterThan(0.95);
    for (const count of answers) expect(count).toBeGreaterThan(60);
  });

  it('with purity 1 every block symbol belongs to the topic', () => {
    const pure = createTopicRecallTask({ purity: 1, delay: 4 });
    for (let seed = 0; seed < 50; seed += 1) {
      const names = decodeTaskTokens(pure.vocabulary, pure.sampleEpisode(new SeededRandom(seed)).tokens);
      const topic = Number((names[names.length - 1] as string).replace('topic:', ''));
      for (const name of names.slice(1, 17)) expect(Math.floor(Number(name.replace('symbol:', '')) / 2)).toBe(topic);
    }
  });

  it('rejects bad parameters and describes its layout', () => {
    expect(() => createTopicRecallTask({ purity: 0 })).toThrow(/purity/);
    expect(() => createTopicRecallTask({ topics: 1 })).toThrow(InvalidArgumentError);
    expect(task.describeLayout()).toContain('21 to 36 tokens');
  });
});

describe('object-collision', () => {
  const parameters = { gridSize: 4, particles: 3, colours: 6, steps: 60, minimumAnswerAge: 5, questionProbability: 0.1 };
  const task = createObjectCollisionTask(parameters);

  /** Brute force over the decoded tokens alone: replay observations, record collisions, answer questions. */
  function replay(episode: TaskEpisode): { answers: number[]; expected: number[]; ages: number[] } {
    const names = decodeTaskTokens(task.vocabulary, episode.tokens);
    const perStep = 2 * parameters.particles + 3;
    const last = new Map<string, { step: number; quadrant: number }>();
    const asked = new Set<string>();
    const answers: number[] = [];
    const expected: number[] = [];
    const ages: number[] = [];
    let previousCells: [number, number][] | null = null;
    for (let step = 0; step < parameters.steps; step += 1) {
      const slice = names.slice(1 + step * perStep, 1 + (step + 1) * perStep);
      const colours: number[] = [];
      const cells: [number, number][] = [];
      for (let particle = 0; particle < parameters.particles; particle += 1) {
        colours.push(Number((slice[2 * particle] as string).replace('colour:', '')));
        const [r, c] = (slice[2 * particle + 1] as string).replace('cell:', '').split(',').map(Number);
        cells.push([r as number, c as number]);
      }
      expect(new Set(colours).size).toBe(parameters.particles);
      if (previousCells !== null) {
        for (let particle = 0; particle < parameters.particles; particle += 1) {
          const [r0, c0] = previousCells[particle] as [number, number];
          const [r1, c1] = cells[particle] as [number, number];
          expect(Math.abs(r1 - r0) + Math.abs(c1 - c0)).toBe(1);
        }
      }
      previousCells = cells;
      for (let first = 0; first < parameters.particles; first += 1) {
        for (let second = first + 1; second < parameters.particles; second += 1) {
          const [r1, c1] = cells[first] as [number, number];
          const [r2, c2] = cells[second] as [number, number];
          if (r1 !== r2 || c1 !== c2) continue;
          const key = [colours[first], colours[second]].sort((x, y) => (x as number) - (y as number)).join('-');
          last.set(key, { step, quadrant: (r1 >= 2 ? 2 : 0) + (c1 >= 2 ? 1 : 0) });
        }
      }
      const [askA, askB, answer] = slice.slice(2 * parameters.particles);
      if (askA === 'ask:none') {
        expect(askB).toBe('ask:none');
        expect(answer).toBe('answer:none');
        continue;
      }
      const a = Number((askA as string).replace('ask:', ''));
      const b = Number((askB as string).replace('ask:', ''));
      expect(a).toBeLessThan(b);
      const key = `${a}-${b}`;
      const record = last.get(key);
      expect(record).toBeDefined();
      const identity = `${key}@${record?.step}`;
      expect(asked.has(identity)).toBe(false);
      asked.add(identity);
      answers.push(Number((answer as string).replace('quadrant:', '')));
      expected.push(record?.quadrant as number);
      ages.push(step - (record?.step as number));
    }
    return { answers, expected, ages };
  }

  it('answers match a brute-force replay of the decoded observations, and only answers are labelled', () => {
    const allAges: number[] = [];
    const allAnswers = new Set<number>();
    let questions = 0;
    for (let seed = 0; seed < 40; seed += 1) {
      const episode = task.sampleEpisode(new SeededRandom(seed));
      const { answers, expected, ages } = replay(episode);
      expect(answers).toEqual(expected);
      expect(labelledPositions(episode).map((position) => task.vocabulary.tokens[episode.tokens[position] as number])).toEqual(answers.map((q) => `quadrant:${q}`));
      allAges.push(...ages);
      for (const answer of answers) allAnswers.add(answer);
      questions += answers.length;
    }
    expect(questions).toBeGreaterThan(40);
    expect(Math.min(...allAges)).toBeGreaterThanOrEqual(parameters.minimumAnswerAge);
    // Answers genuinely lie far back: many are well beyond the minimum age.
    expect(allAges.filter((age) => age >= 2 * parameters.minimumAnswerAge).length).toBeGreaterThan(questions / 4);
    // All four quadrants occur as answers.
    expect(allAnswers).toEqual(new Set([0, 1, 2, 3]));
  });

  it('rejects an odd grid and too few colours', () => {
    expect(() => createObjectCollisionTask({ gridSize: 5 })).toThrow(/even/);
    expect(() => createObjectCollisionTask({ particles: 4, colours: 7 })).toThrow(/colours/);
  });

  it('describes its layout', () => {
    expect(task.describeLayout()).toContain('quadrant');
    expect(task.episodeLength).toBe(1 + 60 * 9);
  });
});

describe('task batches and streams', () => {
  const tasks: LongRangeTask[] = [createCopyTask({ payloadLength: 4, delay: 10 }), createVariableTrackingTask({ statements: 12 }), createObjectCollisionTask({ steps: 10 })];

  it('a [B, E] batch holds episodes with targets shifted by one and the mask on labelled targets', () => {
    for (const task of tasks) {
      const batch = generateTaskBatch(task, { batchSize: 3, seed: 9 });
      const length = task.episodeLength;
      expect(batch.shape).toEqual([3, length]);
      let labelled = 0;
      for (let row = 0; row < 3; row += 1) {
        const episode = taskEpisodeAt(task, 9, row, 0);
        expect([...batch.inputs.subarray(row * length, (row + 1) * length)]).toEqual([...episode.tokens]);
        for (let time = 0; time < length; time += 1) {
          const target = batch.targets[row * length + time];
          expect(target).toBe(time + 1 < length ? episode.tokens[time + 1] : task.vocabulary.startId);
          expect(batch.mask[row * length + time]).toBe(time + 1 < length ? episode.labelled[time + 1] : 0);
          labelled += batch.mask[row * length + time] as number;
        }
      }
      expect(batch.targetCount).toBe(labelled);
    }
  });

  it('a stream with T = E reproduces the batch, then continues with the next episodes', () => {
    for (const task of tasks) {
      const stream = new TaskStream(task, { batchSize: 2, segmentLength: task.episodeLength, seed: 5 });
      const first = stream.next();
      const batch = generateTaskBatch(task, { batchSize: 2, seed: 5 });
      expect([...first.inputs]).toEqual([...batch.inputs]);
      expect([...first.targets]).toEqual([...batch.targets]);
      expect([...(first.mask ?? [])]).toEqual([...batch.mask]);
      const second = stream.next();
      expect([...second.inputs.subarray(0, task.episodeLength)]).toEqual([...taskEpisodeAt(task, 5, 0, 1).tokens]);
    }
  });

  it('segments are contiguous per row (targets of step k lead into inputs of step k+1) and resume exactly', () => {
    const task = createCopyTask({ payloadLength: 3, delay: 7 });
    const stream = new TaskStream(task, { batchSize: 2, segmentLength: 5, seed: 1 });
    const batches = Array.from({ length: 6 }, () => stream.next());
    for (let step = 1; step < batches.length; step += 1) {
      for (let row = 0; row < 2; row += 1) {
        const previous = batches[step - 1] as { targets: Int32Array };
        const current = batches[step] as { inputs: Int32Array };
        expect(current.inputs[row * 5]).toBe(previous.targets[row * 5 + 4]);
      }
    }
    const resumed = new TaskStream(task, { batchSize: 2, segmentLength: 5, seed: 1 });
    resumed.setState({ step: 4 });
    const again = resumed.next();
    expect([...again.inputs]).toEqual([...(batches[4]?.inputs ?? [])]);
    expect([...(again.mask ?? [])]).toEqual([...(batches[4]?.mask ?? [])]);
    expect(resumed.getState()).toEqual({ step: 5 });
  });

  it('staggered rows start at floor(r E / B) of their stream, score nothing of the cut episode, and spread the answers over the steps', () => {
    const task = createCopyTask({ payloadLength: 2, delay: 12 });
    const length = task.episodeLength; // 2P + D + 2 = 18
    const batchSize = 3;
    const segmentLength = 6;
    const plain = new TaskStream(task, { batchSize, segmentLength, seed: 4 });
    const staggered = new TaskStream(task, { batchSize, segmentLength, seed: 4, stagger: true });
    const steps = 9; // 54 positions: three episodes per row
    const plainRows = Array.from({ length: batchSize }, () => ({ inputs: [] as number[], mask: [] as number[] }));
    const shiftedRows = Array.from({ length: batchSize }, () => ({ inputs: [] as number[], mask: [] as number[] }));
    const stepsWithAnswers = { plain: 0, staggered: 0 };
    for (let step = 0; step < steps; step += 1) {
      for (const [stream, rows, key] of [[plain, plainRows, 'plain'], [staggered, shiftedRows, 'staggered']] as const) {
        const batch = stream.next();
        if (batch.targetCount > 0) stepsWithAnswers[key] += 1;
        for (let row = 0; row < batchSize; row += 1) {
          rows[row]?.inputs.push(...batch.inputs.subarray(row * segmentLength, (row + 1) * segmentLength));
          rows[row]?.mask.push(...(batch.mask ?? new Float32Array()).subarray(row * segmentLength, (row + 1) * segmentLength));
        }
      }
    }
    for (let row = 0; row < batchSize; row += 1) {
      const shift = Math.floor((row * length) / batchSize);
      const expected = [0, 1, 2, 3].flatMap((index) => [...taskEpisodeAt(task, 4, row, index).tokens]).slice(shift, shift + steps * segmentLength);
      expect(shiftedRows[row]?.inputs).toEqual(expected);
      // The mask is the plain one shifted, except inside the cut first episode.
      const plainMask = [...(plainRows[row]?.mask ?? [])];
      const shiftedMask = shiftedRows[row]?.mask ?? [];
      for (let position = 0; position + shift < plainMask.length; position += 1) {
        const inCutEpisode = shift > 0 && position + shift + 1 < length;
        expect(shiftedMask[position]).toBe(inCutEpisode ? 0 : plainMask[position + shift]);
      }
    }
    // Plain rows share their layout, so only the steps holding a copy score; staggered rows spread the answers.
    expect(stepsWithAnswers.staggered).toBeGreaterThan(stepsWithAnswers.plain);
    expect(new TaskStream(task, { batchSize: 1, segmentLength, seed: 4, stagger: true }).next().inputs).toEqual(
      new TaskStream(task, { batchSize: 1, segmentLength, seed: 4 }).next().inputs,
    );
  });
});

describe('SeededRandom', () => {
  it('repeats per seed, resumes from its state, and draws roughly uniformly without bias', () => {
    const random = new SeededRandom(42);
    const sequence = Array.from({ length: 5 }, () => random.nextUint32());
    const again = new SeededRandom(42);
    expect(Array.from({ length: 5 }, () => again.nextUint32())).toEqual(sequence);
    const state = again.getState();
    const continued = SeededRandom.fromState(state);
    expect(continued.nextUint32()).toBe(again.nextUint32());
    const counts = new Array<number>(6).fill(0);
    const draws = 60_000;
    const uniform = new SeededRandom(7);
    for (let index = 0; index < draws; index += 1) {
      const value = uniform.nextInt(6);
      counts[value] = (counts[value] ?? 0) + 1;
    }
    const chiSquare = counts.reduce((sum, count) => sum + (count - draws / 6) ** 2 / (draws / 6), 0);
    // 5 degrees of freedom: 20.5 is the 0.999 quantile.
    expect(chiSquare).toBeLessThan(20.5);
    const floats = Array.from({ length: 1000 }, () => uniform.nextFloat());
    expect(Math.min(...floats)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...floats)).toBeLessThan(1);
    expect(() => new SeededRandom(1.5)).toThrow(InvalidArgumentError);
  });

  it('draws the same numbers per seed as it always has (every generated task episode depends on them)', () => {
    const draws = (seed: number) => {
      const random = new SeededRandom(seed);
      return Array.from({ length: 3 }, () => random.nextUint32());
    };
    expect(draws(0)).toEqual([1907052099, 2235393833, 3326586130]);
    expect(draws(1)).toEqual([3708913255, 401992281, 4250976387]);
    expect(draws(1234)).toEqual([3422645048, 2895316985, 1363422204]);
  });
});
