// Tests of the model's forward pass: SPEC 2.3 equivalence, streaming = teacher forcing, evaluate, errors.
import * as tf from '@tensorflow/tfjs';
import { expectClose } from '@engram/kernels/testing';
import { createFifoPolicy, disposeState, type MemoryPolicy, type ModelDimensions } from '@engram/memory';
import { describe, expect, test } from 'vitest';
import { ModelConfigError, ModelInputError } from './errors.js';
import { createAdam, createModel, type MemoryTransformer, type RandomState } from './model.js';
import { columns, randomTokens, tinyConfig } from './test-helpers.js';

/** Logits of the whole stream fed segment by segment (memory carried), concatenated along time. */
function segmentBySegment(model: MemoryTransformer, tokens: number[][], segmentLength: number): tf.Tensor3D {
  let state = model.initialState(tokens.length);
  const pieces: tf.Tensor3D[] = [];
  for (let start = 0; start < (tokens[0] as number[]).length; start += segmentLength) {
    const inputs = columns(tokens, start, Math.min(start + segmentLength, (tokens[0] as number[]).length));
    const result = model.forward(inputs, state);
    inputs.dispose();
    pieces.push(result.logits);
    state = result.state;
  }
  disposeState(state);
  const all = tf.concat(pieces, 1) as tf.Tensor3D;
  tf.dispose(pieces);
  return all;
}

/** Logits of one pass holding the whole stream with empty memory (full causal attention). */
function fullPass(model: MemoryTransformer, tokens: number[][]): tf.Tensor3D {
  const inputs = columns(tokens, 0, (tokens[0] as number[]).length);
  const { logits, state } = model.forward(inputs, model.initialState(tokens.length));
  inputs.dispose();
  disposeState(state);
  return logits;
}

describe('SPEC 2.3: segment by segment with long FIFO memory equals one full causal pass', () => {
  test.each([
    ['pre', 1, 1000],
    ['pre', 3, 1000],
    ['pre', 4, 5],
    ['post', 2, 1000],
    ['post', 5, 1000],
    ['post', 4, 3],
  ] as const)('norm %s, segment length %i, clampLength %i, batch 2', (norm, segmentLength, clampLength) => {
    const before = tf.memory().numTensors;
    const model = createModel(tinyConfig({ norm, clampLength, segmentLength }), { policy: createFifoPolicy({ memoryLength: 64 }) });
    const tokens = randomTokens(2, 13, 11, 7);
    const full = fullPass(model, tokens);
    const segmented = segmentBySegment(model, tokens, segmentLength);
    expectClose(segmented, full, { atol: 1e-4, rtol: 1e-4 });
    // The logits are far from uniform, so the comparison is meaningful.
    expect(tf.tidy(() => tf.moments(full).variance.arraySync())).toBeGreaterThan(0.1);
    tf.dispose([full, segmented]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('short memory does NOT equal the full pass (the test can fail)', () => {
    const model = createModel(tinyConfig(), { policy: createFifoPolicy({ memoryLength: 2 }) });
    const tokens = randomTokens(2, 12, 11, 3);
    const full = fullPass(model, tokens);
    const segmented = segmentBySegment(model, tokens, 4);
    expect(() => expectClose(segmented, full, { atol: 1e-4, rtol: 1e-4 })).toThrow();
    tf.dispose([full, segmented]);
    model.dispose();
  });
});

describe('position paths inside the model', () => {
  test('FIFO memory read through the gather path gives the same logits as the rel-shift path', () => {
    const tokens = randomTokens(2, 12, 11, 4);
    const fifo = createModel(tinyConfig({ clampLength: 5 }), { policy: createFifoPolicy({ memoryLength: 6 }) });
    const base = createFifoPolicy({ memoryLength: 6 });
    const gathered = createModel(tinyConfig({ clampLength: 5 }), {
      policy: { ...base, read: (state, layer) => ({ ...base.read(state, layer), contiguous: false }) },
    });
    const a = segmentBySegment(fifo, tokens, 4);
    const b = segmentBySegment(gathered, tokens, 4);
    expectClose(b, a, { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([a, b]);
    fifo.dispose();
    gathered.dispose();
  });
});

describe('streaming (SPEC 6)', () => {
  test.each(['pre', 'post'] as const)('token-by-token logits equal teacher-forced logits (%s-norm)', (norm) => {
    const before = tf.memory().numTensors;
    const model = createModel(tinyConfig({ norm, segmentLength: 3 }), { policy: createFifoPolicy({ memoryLength: 3, evalMemoryLength: 5 }) });
    const tokens = randomTokens(1, 10, 11, 5);
    const teacher = segmentBySegment(model, tokens, 3);
    const stream = model.createStream();
    const streamed = (tokens[0] as number[]).map((token) => Array.from(stream.push(token)));
    expect(stream.position).toBe(10);
    expect(stream.pending).toEqual([(tokens[0] as number[])[9]]);
    expect(stream.state.tokensSeen).toBe(9);
    expectClose(streamed, (teacher.arraySync() as number[][][])[0] as number[][], { atol: 1e-4, rtol: 1e-4 });
    stream.dispose();
    teacher.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('stream errors', () => {
    const model = createModel(tinyConfig());
    expect(() => model.createStream({ batchSize: 2 as 1 })).toThrow(ModelInputError);
    const stream = model.createStream();
    expect(() => stream.push(11)).toThrow(/vocabSize/);
    stream.dispose();
    expect(() => stream.push(1)).toThrow(/disposed/);
    model.dispose();
  });
});

describe('forward and evaluate', () => {
  test('evaluate returns per-token NLL equal to -log softmax of the forward logits, masked sums, and advances memory', () => {
    const model = createModel(tinyConfig());
    const tokens = randomTokens(2, 5, 11, 9);
    const inputs = columns(tokens, 0, 4);
    const targets = columns(tokens, 1, 5);
    const mask = tf.tensor2d([
      [1, 1, 0, 1],
      [0, 1, 1, 1],
    ]);
    const { logits, state: afterForward } = model.forward(inputs, model.initialState(2));
    expect(afterForward.tokensSeen).toBe(4);
    disposeState(afterForward);
    const expectedNll = tf.tidy(() => {
      const logProbabilities = tf.logSoftmax(logits).reshape([8, 11]);
      return tf.neg(tf.sum(tf.mul(logProbabilities, tf.oneHot(targets.reshape([8]), 11)), 1));
    });
    const result = model.evaluate(inputs, targets, model.initialState(2), { mask });
    expectClose(result.tokenNll, expectedNll, { atol: 1e-5, rtol: 1e-5 });
    const nll = Array.from(result.tokenNll);
    const weights = [1, 1, 0, 1, 0, 1, 1, 1];
    expect(result.count).toBe(6);
    expect(result.nllSum).toBeCloseTo(nll.reduce((sum, value, index) => sum + value * (weights[index] as number), 0), 4);
    expect(result.state.tokensSeen).toBe(4);
    expect(model.policy.telemetry(result.state).memorySlots).toEqual([4, 4]);
    disposeState(result.state);
    tf.dispose([inputs, targets, mask, logits, expectedNll]);
    model.dispose();
  });

  test('forward consumes the state; reusing it is a clear error', () => {
    const model = createModel(tinyConfig());
    const inputs = columns(randomTokens(1, 4, 11, 1), 0, 4);
    const first = model.forward(inputs, model.initialState(1));
    const second = model.forward(inputs, first.state);
    expect(() => model.forward(inputs, first.state)).toThrow(/already consumed/);
    tf.dispose([inputs, first.logits, second.logits]);
    disposeState(second.state);
    model.dispose();
  });

  test('structure: names, parameter count, temporal range, defaults', () => {
    const model = createModel(tinyConfig({ numLayers: 2, tieEmbeddings: false }));
    const names = Object.keys(model.namedVariables());
    expect(names).toEqual([
      'embedding.weight',
      'attention.u_bias',
      'attention.v_bias',
      'layers.0.attention.query.weight',
      'layers.0.attention.key.weight',
      'layers.0.attention.value.weight',
      'layers.0.attention.output.weight',
      'layers.0.attention.position.weight',
      'layers.0.attention_norm.weight',
      'layers.0.attention_norm.bias',
      'layers.0.feed_forward.inner.weight',
      'layers.0.feed_forward.inner.bias',
      'layers.0.feed_forward.outer.weight',
      'layers.0.feed_forward.outer.bias',
      'layers.0.feed_forward_norm.weight',
      'layers.0.feed_forward_norm.bias',
      'layers.1.attention.query.weight',
      'layers.1.attention.key.weight',
      'layers.1.attention.value.weight',
      'layers.1.attention.output.weight',
      'layers.1.attention.position.weight',
      'layers.1.attention_norm.weight',
      'layers.1.attention_norm.bias',
      'layers.1.feed_forward.inner.weight',
      'layers.1.feed_forward.inner.bias',
      'layers.1.feed_forward.outer.weight',
      'layers.1.feed_forward.outer.bias',
      'layers.1.feed_forward_norm.weight',
      'layers.1.feed_forward_norm.bias',
      'final_norm.weight',
      'final_norm.bias',
      'output.weight',
      'output.bias',
    ]);
    const [V, D, F, H] = [11, 16, 24, 2];
    const perLayer = 5 * D * D + 2 * D + (D * F + F + F * D + D) + 2 * D;
    expect(model.parameterCount()).toBe(V * D + 2 * D + 2 * perLayer + 2 * D + D * V + V);
    expect(model.temporalRange()).toBe(2 * 4);
    expect(model.config.norm).toBe('pre');
    expect(model.config.clampLength).toBe(1000);
    model.dispose();
    const tied = createModel(tinyConfig({ tieEmbeddings: true, norm: 'post', perLayerPositionBiases: true }));
    const tiedNames = Object.keys(tied.namedVariables());
    expect(tiedNames).not.toContain('output.weight');
    expect(tiedNames).not.toContain('final_norm.weight');
    expect(tiedNames).toContain('layers.1.attention.u_bias');
    expect(tiedNames).not.toContain('attention.u_bias');
    void H;
    tied.dispose();
  });

  test('options: gelu, scaled embeddings and tied embeddings run and differ from the default', () => {
    const tokens = randomTokens(1, 4, 11, 2);
    const inputs = columns(tokens, 0, 4);
    const run = (overrides: Parameters<typeof tinyConfig>[0]): number[] => {
      const model = createModel(tinyConfig(overrides));
      const { logits, state } = model.forward(inputs, model.initialState(1));
      const values = Array.from(logits.dataSync());
      logits.dispose();
      disposeState(state);
      model.dispose();
      return values;
    };
    const base = run({});
    for (const overrides of [{ activation: 'gelu' as const }, { scaleEmbedding: true }, { tieEmbeddings: true }]) {
      const values = run(overrides);
      expect(values.every(Number.isFinite)).toBe(true);
      expect(values).not.toEqual(base);
    }
    inputs.dispose();
  });

  test('the same seed gives the same weights; dropout is seeded and only active in training', () => {
    const a = createModel(tinyConfig({ dropout: 0.3, attentionDropout: 0.2 }));
    const b = createModel(tinyConfig({ dropout: 0.3, attentionDropout: 0.2 }));
    const inputs = columns(randomTokens(1, 4, 11, 4), 0, 4);
    const outputs = [a, b].flatMap((model) =>
      [false, true].map((training) => {
        const { logits, state } = model.forward(inputs, model.initialState(1), { training });
        disposeState(state);
        return logits;
      }),
    );
    const [evalA, trainA, evalB, trainB] = outputs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    expectClose(evalA, evalB, { atol: 0, rtol: 0 });
    expectClose(trainA, trainB, { atol: 0, rtol: 0 });
    expect(() => expectClose(trainA, evalA, { atol: 1e-4, rtol: 1e-4 })).toThrow();
    tf.dispose([...outputs, inputs]);
    a.dispose();
    b.dispose();
  });

  test.each([
    ['residual dropout', { dropout: 0.3, attentionDropout: 0 }],
    ['attention dropout', { dropout: 0, attentionDropout: 0.3 }],
  ])('setRandomState(getRandomState()) replays the dropout masks of training forwards (%s)', (_name, rates) => {
    const model = createModel(tinyConfig({ segmentLength: 3, ...rates }));
    const tokens = randomTokens(2, 6, 11, 8);
    const segments = [columns(tokens, 0, 3), columns(tokens, 3, 6)];
    /** Two training forwards with memory carried; the logits of both, flattened. */
    const twoForwards = (): number[] => {
      let state = model.initialState(2);
      const values: number[] = [];
      for (const inputs of segments) {
        const result = model.forward(inputs, state, { training: true });
        values.push(...result.logits.dataSync());
        result.logits.dispose();
        state = result.state;
      }
      disposeState(state);
      return values;
    };
    twoForwards(); // start from counters other than 0
    const saved = JSON.parse(JSON.stringify(model.getRandomState())) as RandomState;
    expect(saved).toEqual(model.getRandomState());
    expect(saved.version).toBe(1);
    expect(saved.attentionDropoutCalls).toHaveLength(2);
    // Each stream moved only if its dropout is on: both counters are covered by the state.
    expect(saved.dropoutCalls > 0).toBe(rates.dropout > 0);
    expect(saved.attentionDropoutCalls.every((calls) => calls > 0)).toBe(rates.attentionDropout > 0);
    const first = twoForwards();
    const after = model.getRandomState();
    model.setRandomState(saved);
    const replayed = twoForwards();
    expectClose(replayed, first, { atol: 0, rtol: 0 });
    expect(model.getRandomState()).toEqual(after);
    // A different state (here: the one after the first replay) draws different masks.
    const different = twoForwards();
    expect(() => expectClose(different, first, { atol: 1e-4, rtol: 1e-4 })).toThrow();
    expect(() => model.setRandomState({ ...saved, attentionDropoutCalls: [1] })).toThrow(ModelInputError);
    expect(() => model.setRandomState({ ...saved, dropoutCalls: -1 })).toThrow(/dropoutCalls/);
    expect(() => model.setRandomState(null as unknown as RandomState)).toThrow(/getRandomState/);
    tf.dispose(segments);
    model.dispose();
  });

  test('the policy is built with the model dimensions and the model seed', () => {
    const fifo = createFifoPolicy({ memoryLength: 4 });
    const seen: ModelDimensions[] = [];
    const policy: MemoryPolicy = { ...fifo, build: (dimensions) => { seen.push(dimensions); fifo.build(dimensions); } };
    const model = createModel(tinyConfig({ seed: 42 }), { policy });
    expect(seen).toEqual([{ numLayers: 2, modelDim: 16, numHeads: 2, segmentLength: 4, seed: 42 }]);
    model.dispose();
  });

  test('clear errors for bad config and inputs', () => {
    expect(() => createModel({ ...tinyConfig(), numHeads: 3 })).toThrow(ModelConfigError);
    expect(() => createModel({ ...tinyConfig(), vocabSize: 0 })).toThrow(/vocabSize/);
    expect(() => createModel({ ...tinyConfig(), norm: 'middle' as 'pre' })).toThrow(/norm/);
    expect(() => createModel({ ...tinyConfig(), dropout: 1.5 })).toThrow(/dropout/);
    const model = createModel(tinyConfig());
    const state = model.initialState(1);
    const outOfRange = tf.tensor2d([[1, 11]], undefined, 'int32');
    expect(() => model.forward(outOfRange, state)).toThrow(/\[0, 11\)/);
    const floats = tf.tensor2d([[1, 2]]);
    expect(() => model.forward(floats as tf.Tensor2D, state)).toThrow(/int32/);
    const wideBatch = tf.tensor2d([[1], [2]], undefined, 'int32');
    expect(() => model.forward(wideBatch, state)).toThrow(/initialState\(2\)/);
    tf.dispose([outOfRange, floats, wideBatch]);
    disposeState(state);
    model.dispose();
  });

  test('out-of-range tokens: forward, evaluate and trainStep name the token, consume nothing, change no weight and leak nothing', () => {
    const model = createModel(tinyConfig());
    const optimizer = createAdam({ learningRate: 1e-2 });
    const good = tf.tensor2d([[1, 2, 3]], undefined, 'int32');
    const tooLarge = tf.tensor2d([[1, 2, 11]], undefined, 'int32');
    const negative = tf.tensor2d([[1, -4, 3]], undefined, 'int32');
    const state = model.initialState(1);
    // Warm up the optimizer so its slots exist before counting tensors.
    const warm = model.trainStep({ inputs: good, targets: good }, model.initialState(1), { optimizer });
    disposeState(warm.state);
    const weightsBefore = model.trainableVariables().map((variable) => variable.dataSync().slice());
    const before = tf.memory().numTensors;
    expect(() => model.forward(tooLarge, state)).toThrow(/forward: inputs holds token 11 at flat position 2; tokens must lie in \[0, 11\)/);
    expect(() => model.evaluate(good, negative, state)).toThrow(/evaluate: targets holds token -4 at flat position 1/);
    expect(() => model.evaluate(negative, good, state)).toThrow(ModelInputError);
    // An out-of-range target reaches no gather kernel: only the device-side count catches it, before any update.
    expect(() => model.trainStep({ inputs: good, targets: tooLarge }, state, { optimizer })).toThrow(/trainStep: batch 0 targets holds token 11/);
    expect(() => model.trainStep([{ inputs: good, targets: good }, { inputs: negative, targets: good }], state, { optimizer })).toThrow(
      /trainStep: batch 1 inputs holds token -4/,
    );
    expect(tf.memory().numTensors).toBe(before);
    model.trainableVariables().forEach((variable, index) => expect(variable.dataSync()).toEqual(weightsBefore[index]));
    // The state was not consumed: it still runs.
    const result = model.forward(good, state);
    expect(result.logits.shape).toEqual([1, 3, 11]);
    result.logits.dispose();
    disposeState(result.state);
    tf.dispose([good, tooLarge, negative]);
    optimizer.dispose();
    model.dispose();
  });
});

describe('Transformer-XL options: finalNorm, sameLength, clampLength <= 0', () => {
  test('finalNorm: false removes the final layer norm of a pre-norm model (variables and output)', () => {
    const withNorm = createModel(tinyConfig());
    const without = createModel(tinyConfig({ finalNorm: false }));
    expect(Object.keys(withNorm.namedVariables())).toContain('final_norm.weight');
    expect(Object.keys(without.namedVariables()).filter((name) => name.startsWith('final_norm'))).toEqual([]);
    expect(without.config.finalNorm).toBe(false);
    expect(createModel(tinyConfig({ norm: 'post' })).config.finalNorm).toBe(false);
    const tokens = randomTokens(1, 4, 11, 2);
    const [a, b] = [withNorm, without].map((model) => fullPass(model, tokens));
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a!, b!))).arraySync())).toBeGreaterThan(1e-3);
    tf.dispose([a!, b!]);
    withNorm.dispose();
    without.dispose();
  });

  test('sameLength: the first segment is unchanged while memoryLength >= T, and every query then sees memoryLength keys', () => {
    const before = tf.memory().numTensors;
    const memoryLength = 5;
    const plain = createModel(tinyConfig({ seed: 4 }), { policy: createFifoPolicy({ memoryLength }) });
    const same = createModel(tinyConfig({ seed: 4, sameLength: true }), { policy: createFifoPolicy({ memoryLength }) });
    // Equal weights: seeds are equal and sameLength adds no variable.
    const tokens = randomTokens(1, 12, 11, 5);
    const [a, b] = [plain, same].map((model) => segmentBySegment(model, tokens, 4));
    const first = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.slice(a!, [0, 0, 0], [-1, 4, -1]), tf.slice(b!, [0, 0, 0], [-1, 4, -1])))).arraySync());
    expect(first).toBeLessThan(1e-6);
    const later = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.slice(a!, [0, 4, 0], [-1, 8, -1]), tf.slice(b!, [0, 4, 0], [-1, 8, -1])))).arraySync());
    expect(later).toBeGreaterThan(1e-3);
    tf.dispose([a!, b!]);
    plain.dispose();
    same.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('sameLength refuses a policy without a fixed memory length, naming the option', () => {
    expect(() => createModel(tinyConfig({ sameLength: true }), { policy: createFifoPolicy({ memoryLength: 0 }) })).toThrow(/config.sameLength/);
  });

  test('clampLength 0 and -1 mean no clamp (equal logits to a clamp beyond every distance)', () => {
    const tokens = randomTokens(1, 12, 11, 6);
    const logits = [0, -1, 1000, 1].map((clampLength) => {
      const model = createModel(tinyConfig({ clampLength, seed: 7 }), { policy: createFifoPolicy({ memoryLength: 8 }) });
      const result = segmentBySegment(model, tokens, 4);
      model.dispose();
      return result;
    });
    expectClose(logits[0]!, logits[2]!, { atol: 1e-5, rtol: 1e-5 });
    expectClose(logits[1]!, logits[2]!, { atol: 1e-5, rtol: 1e-5 });
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(logits[3]!, logits[2]!))).arraySync())).toBeGreaterThan(1e-3);
    tf.dispose(logits);
    expect(() => createModel(tinyConfig({ clampLength: 0.5 }))).toThrow(/clampLength must be an integer/);
  });
});
