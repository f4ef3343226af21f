// Tests of the adaptive embedding and softmax: log-probabilities against a by-hand computation, normalisation, gradients, leaks, model wiring and save/load.
import * as tf from '@tensorflow/tfjs';
import { checkGradients, expectClose, expectNoLeak } from '@engram/kernels/testing';
import { disposeState } from '@engram/memory';
import { describe, expect, test } from 'vitest';
import { adaptiveEmbed, adaptiveLayout, adaptiveLogProbabilities, adaptiveTargetLogProbabilities, adaptiveWeights, createAdaptiveInput, createAdaptiveOutput, type AdaptiveVariables } from './adaptive.js';
import { resolveConfig, type ModelConfig } from './config.js';
import { exportTransformerXl } from './interchange/transformer-xl.js';
import { createModel } from './model.js';
import { decodeModel, encodeModel } from './weights.js';
import { randomTokens, tinyConfig } from './test-helpers.js';

/** Seeded random variables for a config (no model). */
function variablesFor(config: ModelConfig, seed: number): { layout: NonNullable<ReturnType<typeof adaptiveLayout>>; variables: AdaptiveVariables } {
  const c = resolveConfig(config);
  const layout = adaptiveLayout(c);
  if (!layout) throw new Error('not adaptive');
  let index = 0;
  const maker = {
    matrix: (_: string, shape: number[]) => tf.variable(tf.randomNormal(shape, 0, 0.7, 'float32', seed * 100 + index++)),
    constant: (_: string, shape: number[]) => tf.variable(tf.randomNormal(shape, 0, 0.7, 'float32', seed * 100 + index++)),
  };
  return { layout, variables: { ...createAdaptiveInput(layout, c, maker), ...createAdaptiveOutput(layout, c, maker) } };
}

function dispose(variables: AdaptiveVariables): void {
  const all = [...variables.tables, ...variables.inputProjections, ...variables.outputWeights, ...variables.outputBiases, ...variables.outputProjections, variables.clusterWeight, variables.clusterBias];
  for (const variable of all) variable?.dispose();
}

/** Plain-array row-vector product `x @ W` with `W` `[in][out]`. */
function times(x: number[], w: number[][]): number[] {
  return (w[0] as number[]).map((_, j) => x.reduce((sum, value, i) => sum + value * ((w[i] as number[])[j] as number), 0));
}

function logSoftmax(x: number[]): number[] {
  const max = Math.max(...x);
  const total = Math.log(x.reduce((sum, value) => sum + Math.exp(value - max), 0)) + max;
  return x.map((value) => value - total);
}

const cases: Array<[string, ModelConfig]> = [
  ['divisor 1, no projection, 3 clusters', tinyConfig({ vocabSize: 13, modelDim: 8, cutoffs: [4, 9] })],
  ['divisor 2, 3 clusters, untied', tinyConfig({ vocabSize: 13, modelDim: 8, cutoffs: [4, 9], embeddingDivisor: 2 })],
  ['divisor 4, tied weights and tail projections', tinyConfig({ vocabSize: 13, modelDim: 8, embeddingDim: 16, cutoffs: [5], embeddingDivisor: 4, tieEmbeddings: true, tieProjections: [false, true] })],
  ['divisor 1, embeddingDim != modelDim, tied projections', tinyConfig({ vocabSize: 13, modelDim: 8, embeddingDim: 6, cutoffs: [5], tieProjections: [true, true] })],
];

describe('adaptive softmax and embedding', () => {
  test.each(cases)('%s: log-probabilities equal the by-hand computation and sum to 1; embeddings equal the by-hand lookup', (_, config) => {
    const c = resolveConfig(config);
    const { layout, variables } = variablesFor(config, 3);
    const hidden = tf.randomNormal([5, c.modelDim], 0, 1, 'float32', 9) as tf.Tensor2D;
    // Plain arrays of the weights (tied ones transposed inside a scope that disposes them).
    const weights = (() => {
      tf.engine().startScope();
      const w = adaptiveWeights(layout, variables);
      const arrays = {
        outputWeights: w.outputWeights.map((t) => t.arraySync()),
        outputBiases: w.outputBiases.map((t) => t.arraySync()),
        outputProjections: w.outputProjections.map((t) => t.arraySync()),
        tables: w.tables.map((t) => t.arraySync()),
        inputProjections: w.inputProjections.map((t) => t.arraySync()),
        clusterWeight: w.clusterWeight?.arraySync() ?? null,
        clusterBias: w.clusterBias?.arraySync() ?? null,
      };
      tf.engine().endScope();
      return arrays;
    })();
    const actual = tf.tidy(() => adaptiveLogProbabilities(layout, adaptiveWeights(layout, variables), hidden).arraySync());
    const clusters = layout.widths.length;
    const expected = (hidden.arraySync() as number[][]).map((h) => {
      const scores = (cluster: number): number[] => {
        const start = layout.ends[cluster] as number;
        const end = layout.ends[cluster + 1] as number;
        const w = layout.shared ? (weights.outputWeights[0] as number[][]).map((row) => row.slice(start, end)) : (weights.outputWeights[cluster] as number[][]);
        const b = layout.shared ? (weights.outputBiases[0] as number[]).slice(start, end) : (weights.outputBiases[cluster] as number[]);
        const input = layout.projected ? times(h, weights.outputProjections[cluster] as number[][]) : h;
        return times(input, w).map((value, index) => value + (b[index] as number));
      };
      const headInput = layout.projected ? times(h, weights.outputProjections[0] as number[][]) : h;
      const clusterScores = weights.clusterWeight ? times(headInput, weights.clusterWeight).map((value, index) => value + ((weights.clusterBias as number[])[index] as number)) : [];
      const head = logSoftmax([...scores(0), ...clusterScores]);
      const shortlist = layout.ends[1] as number;
      const row = head.slice(0, shortlist);
      for (let cluster = 1; cluster < clusters; cluster++) row.push(...logSoftmax(scores(cluster)).map((value) => value + (head[shortlist + cluster - 1] as number)));
      return row;
    });
    expectClose(actual, expected, { atol: 1e-5, rtol: 1e-5 });
    for (const row of actual) expect(row.reduce((sum, value) => sum + Math.exp(value), 0)).toBeCloseTo(1, 5);

    const ids = [[0, 3, 4, 5, 8], [9, 12, 1, 6, 10]];
    const idTensor = tf.tensor2d(ids, undefined, 'int32');
    const embedded = tf.tidy(() => adaptiveEmbed(layout, adaptiveWeights(layout, variables), idTensor, c.modelDim).arraySync());
    const expectedEmbedding = ids.map((row) =>
      row.map((id) => {
        const cluster = layout.shared ? 0 : layout.ends.findIndex((end, index) => id >= end && id < (layout.ends[index + 1] as number));
        const local = layout.shared ? id : id - (layout.ends[cluster] as number);
        const vector = (weights.tables[cluster] as number[][])[local] as number[];
        return layout.projected ? times(vector, weights.inputProjections[cluster] as number[][]) : vector;
      }),
    );
    expectClose(embedded, expectedEmbedding, { atol: 1e-5, rtol: 1e-5 });
    tf.dispose([hidden, idTensor]);
    dispose(variables);
  });

  test.each(cases)('%s: gradients of the NLL match finite differences, and no tensor leaks', (_, config) => {
    const c = resolveConfig(config);
    const { layout, variables } = variablesFor(config, 4);
    const targets = tf.tensor1d([0, 4, 8, 9, 12], 'int32');
    const ids = tf.tensor2d([[1, 5, 10, 12, 3]], undefined, 'int32');
    const hidden = tf.randomNormal([5, c.modelDim], 0, 1, 'float32', 2);
    const trained = [...variables.tables, ...variables.inputProjections, ...variables.outputWeights, ...variables.outputBiases, ...variables.outputProjections.filter((v): v is tf.Variable => v !== null), ...(variables.clusterWeight ? [variables.clusterWeight] : [])];
    const copies = trained.map((variable) => tf.clone(variable));
    // checkGradients differentiates with respect to its inputs: the weights are rebuilt from them.
    const direct = (h: tf.Tensor, ...values: tf.Tensor[]): tf.Scalar => {
      const w = adaptiveWeights(layout, { ...variables, ...rebuild(variables, trained, values) });
      const logProbabilities = adaptiveLogProbabilities(layout, w, h as tf.Tensor2D);
      const picked = tf.sum(tf.mul(logProbabilities, tf.oneHot(targets, c.vocabSize)));
      const embedded = tf.sum(tf.square(adaptiveEmbed(layout, w, ids, c.modelDim)));
      return tf.add(tf.neg(picked), tf.mul(embedded, 0.1)) as tf.Scalar;
    };
    checkGradients(direct, [hidden, ...copies], { epsilon: 1e-2, atol: 2e-2, rtol: 2e-2 });
    expectNoLeak(() => tf.tidy(() => { adaptiveLogProbabilities(layout, adaptiveWeights(layout, variables), hidden as tf.Tensor2D); }));
    tf.dispose([targets, ids, hidden, ...copies]);
    dispose(variables);
  });
});

describe('target-only log-probabilities (what the training loss computes)', () => {
  test.each(cases)('%s: equal the full log-probabilities picked at the targets, with the same gradients (and finite differences), no leaks', (_, config) => {
    const c = resolveConfig(config);
    const { layout, variables } = variablesFor(config, 6);
    const trained = [...variables.tables, ...variables.inputProjections, ...variables.outputWeights, ...variables.outputBiases, ...variables.outputProjections.filter((v): v is tf.Variable => v !== null), ...(variables.clusterWeight ? [variables.clusterWeight] : [])];
    // Targets in every cluster (some repeated), then a batch that leaves the tail clusters empty.
    for (const ids of [[0, 4, 8, 9, 12, 3, 12, 5], [0, 1, 2, 3, 1, 0, 2, 3]]) {
      const targets = tf.tensor1d(ids, 'int32');
      const hidden = tf.randomNormal([ids.length, c.modelDim], 0, 1, 'float32', 5);
      // Distinct row weights, so that a row's gradient landing on another row would show.
      const rowWeights = tf.tensor1d(ids.map((_, row) => 1 + row / 4));
      const copies = trained.map((variable) => tf.clone(variable));
      const full = (h: tf.Tensor, ...values: tf.Tensor[]): tf.Scalar => {
        const w = adaptiveWeights(layout, { ...variables, ...rebuild(variables, trained, values) });
        const picked = tf.sum(tf.mul(adaptiveLogProbabilities(layout, w, h as tf.Tensor2D), tf.oneHot(targets, c.vocabSize)), 1);
        return tf.sum(tf.mul(picked, rowWeights)) as tf.Scalar;
      };
      const targeted = (h: tf.Tensor, ...values: tf.Tensor[]): tf.Scalar => {
        const w = adaptiveWeights(layout, { ...variables, ...rebuild(variables, trained, values) });
        return tf.sum(tf.mul(adaptiveTargetLogProbabilities(layout, w, h as tf.Tensor2D, targets), rowWeights)) as tf.Scalar;
      };
      const [expected, actual] = tf.tidy(() => {
        const w = adaptiveWeights(layout, variables);
        return [
          tf.sum(tf.mul(adaptiveLogProbabilities(layout, w, hidden as tf.Tensor2D), tf.oneHot(targets, c.vocabSize)), 1).arraySync() as number[],
          adaptiveTargetLogProbabilities(layout, w, hidden as tf.Tensor2D, targets).arraySync(),
        ];
      });
      expectClose(actual, expected, { atol: 1e-5, rtol: 1e-5 });
      const inputs = [hidden, ...copies];
      // Input tables and projections reach the output only when tied, and a tail cluster without targets does not
      // reach the targeted loss at all: a null gradient, which must be zero in the full computation.
      const gradients = (f: (h: tf.Tensor, ...values: tf.Tensor[]) => tf.Scalar): Array<number[] | null> => {
        const { value, grads } = tf.engine().gradients(() => f(hidden, ...copies), inputs, undefined, true);
        const arrays = grads.map((gradient) => (gradient ? Array.from(gradient.dataSync()) : null));
        tf.dispose([value, ...grads.filter((gradient): gradient is tf.Tensor => gradient !== null)]);
        return arrays;
      };
      const fullGradients = gradients(full);
      const targetedGradients = gradients(targeted);
      targetedGradients.forEach((gradient, index) => {
        const reference = fullGradients[index] ?? null;
        if (gradient === null) expect(reference === null || reference.every((value) => Math.abs(value) < 1e-6), `input ${index}`).toBe(true);
        else expectClose(gradient, reference as number[], { atol: 1e-5, rtol: 1e-4, message: `input ${index}` });
      });
      const indices = inputs.map((_, index) => index).filter((index) => targetedGradients[index] !== null);
      const reaching = indices.map((index) => inputs[index] as tf.Tensor);
      checkGradients(
        (...xs: tf.Tensor[]) => {
          const [h, ...values] = inputs.map((input, index) => (indices.includes(index) ? (xs[indices.indexOf(index)] as tf.Tensor) : input));
          return targeted(h as tf.Tensor, ...values);
        },
        reaching,
        { epsilon: 1e-2, atol: 2e-2, rtol: 2e-2 },
      );
      expectNoLeak(() => tf.tidy(() => { adaptiveTargetLogProbabilities(layout, adaptiveWeights(layout, variables), hidden as tf.Tensor2D, targets); }));
      tf.dispose([targets, hidden, rowWeights, ...copies]);
    }
    dispose(variables);
  });
});

/** The variables with `trained[i]` replaced by `values[i]` (same structure), for differentiating with respect to plain tensors. */
function rebuild(variables: AdaptiveVariables, trained: tf.Variable[], values: tf.Tensor[]): AdaptiveVariables {
  const swap = <T extends tf.Variable | null>(variable: T): T => {
    const index = variable ? trained.indexOf(variable) : -1;
    return (index >= 0 ? values[index] : variable) as T;
  };
  return {
    tables: variables.tables.map(swap),
    inputProjections: variables.inputProjections.map(swap),
    outputWeights: variables.outputWeights.map(swap),
    outputBiases: variables.outputBiases.map(swap),
    outputProjections: variables.outputProjections.map(swap),
    clusterWeight: swap(variables.clusterWeight),
    clusterBias: variables.clusterBias,
  };
}

describe('adaptive models', () => {
  test.each(cases)('%s: training lowers the loss, evaluation agrees with forward, save/load gives the same log-probabilities, no leaks', (_, config) => {
    const before = tf.memory().numTensors;
    const model = createModel(config);
    const c = model.config;
    const tokens = randomTokens(2, 5, c.vocabSize, 7);
    const inputs = tf.tensor2d(tokens.map((row) => row.slice(0, 4)), undefined, 'int32');
    const targets = tf.tensor2d(tokens.map((row) => row.slice(1, 5)), undefined, 'int32');
    const optimizer = tf.train.adam(0.05);
    let state = model.initialState(2);
    const losses: number[] = [];
    for (let step = 0; step < 8; step++) {
      const result = model.trainStep({ inputs, targets }, state, { optimizer });
      losses.push(result.taskLoss);
      state = result.state;
    }
    expect(losses[losses.length - 1] as number).toBeLessThan((losses[0] as number) * 0.8);
    const forward = model.forward(inputs, model.initialState(2));
    const sums = tf.tidy(() => tf.sum(tf.exp(forward.logits), 2).arraySync() as number[][]);
    for (const value of sums.flat()) expect(value).toBeCloseTo(1, 4);
    const evaluated = model.evaluate(inputs, targets, model.initialState(2));
    const picked = tf.tidy(() => tf.neg(tf.sum(tf.mul(forward.logits, tf.oneHot(targets, c.vocabSize)), 2)).dataSync());
    expectClose(Array.from(evaluated.tokenNll), Array.from(picked), { atol: 1e-4, rtol: 1e-4 });
    const files = encodeModel(model);
    const loaded = decodeModel(files);
    const again = loaded.forward(inputs, loaded.initialState(2));
    expectClose(again.logits.arraySync(), forward.logits.arraySync(), { atol: 1e-6, rtol: 1e-6 });
    for (const s of [state, forward.state, evaluated.state, again.state]) disposeState(s);
    tf.dispose([forward.logits, again.logits, inputs, targets]);
    optimizer.dispose();
    model.dispose();
    loaded.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test.each(cases)('%s: the training loss (target log-probabilities only) and evaluate equal the mean NLL of the full log-probabilities', (_, config) => {
    const model = createModel(config);
    Object.values(model.namedVariables()).forEach((variable, index) => {
      tf.tidy(() => variable.assign(tf.randomNormal(variable.shape, 0, 0.5, 'float32', 40 + index)));
    });
    const c = model.config;
    const tokens = randomTokens(2, 9, c.vocabSize, 11);
    const inputs = tf.tensor2d(tokens.map((row) => row.slice(0, 8)), undefined, 'int32');
    const targets = tf.tensor2d(tokens.map((row) => row.slice(1, 9)), undefined, 'int32');
    const forward = model.forward(inputs, model.initialState(2), { training: true });
    const fullNll = tf.tidy(() => Array.from(tf.neg(tf.sum(tf.mul(forward.logits, tf.oneHot(targets, c.vocabSize)), 2)).dataSync()));
    const mean = fullNll.reduce((sum, value) => sum + value, 0) / fullNll.length;
    // Far from uniform, so that the comparison means something.
    expect(Math.abs(mean - Math.log(c.vocabSize))).toBeGreaterThan(0.1);
    const optimizer = tf.train.sgd(0.1);
    const result = model.trainStep({ inputs, targets }, model.initialState(2), { optimizer });
    expect(result.taskLoss).toBeCloseTo(mean, 5);
    const evaluated = model.evaluate(inputs, targets, result.state);
    expect(evaluated.count).toBe(16);
    for (const s of [forward.state, evaluated.state]) disposeState(s);
    tf.dispose([forward.logits, inputs, targets]);
    optimizer.dispose();
    model.dispose();
  });

  test('out-of-range targets of an adaptive model are refused, naming the token, with no tensor left behind', () => {
    const model = createModel(cases[1]?.[1] as ModelConfig);
    const inputs = tf.tensor2d([[1, 2, 3, 4]], undefined, 'int32');
    const tooLarge = tf.tensor2d([[1, 2, 13, 4]], undefined, 'int32');
    const negative = tf.tensor2d([[1, -2, 3, 4]], undefined, 'int32');
    const optimizer = tf.train.sgd(0.1);
    const state = model.initialState(1);
    const before = tf.memory().numTensors;
    expect(() => model.trainStep({ inputs, targets: tooLarge }, state, { optimizer })).toThrow(/trainStep: batch 0 targets holds token 13 at flat position 2/);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => model.evaluate(inputs, negative, model.initialState(1))).toThrow(/evaluate: targets holds token -2 at flat position 1/);
    disposeState(state);
    tf.dispose([inputs, tooLarge, negative]);
    optimizer.dispose();
    model.dispose();
  });

  test('bad adaptive config names the field', () => {
    expect(() => createModel(tinyConfig({ cutoffs: [0] }))).toThrow(/config.cutoffs/);
    expect(() => createModel(tinyConfig({ cutoffs: [5, 3] }))).toThrow(/config.cutoffs/);
    expect(() => createModel(tinyConfig({ embeddingDivisor: 0 }))).toThrow(/config.embeddingDivisor/);
    expect(() => createModel(tinyConfig({ cutoffs: [3, 6], embeddingDim: 4, embeddingDivisor: 4 }))).toThrow(/0 wide/);
    expect(() => createModel(tinyConfig({ cutoffs: [3], tieProjections: [true, true, true] }))).toThrow(/config.tieProjections/);
    const adaptive = createModel(tinyConfig({ cutoffs: [5], finalNorm: false, norm: 'post', scaleEmbedding: true }));
    // Adaptive models convert (interchange/transformer-xl.test.ts checks the values against PyTorch's).
    expect(exportTransformerXl(adaptive).config).toMatchObject({ cutoffs: [5], div_val: 1, tie_projs: [false, false] });
    adaptive.dispose();
  });
});
