// Model-level tests: the compressive policy inside @engram/model (FIFO equivalence, SPEC 3.2 gradient isolation, smoke runs, streaming, save/load).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expectClose } from '@engram/kernels/testing';
import { createFifoPolicy, disposeState } from '@engram/memory';
import type { ContentAttention, MemoryPolicy, MemoryState } from '@engram/memory';
import { createModel } from '@engram/model';
import { loadModel, readModelConfig, saveModel } from '@engram/model/node';
import type { Batch, MemoryTransformer } from '@engram/model';
import { describe, expect, it } from 'vitest';
import { createConvCompressor, createDilatedConvCompressor, createMostUsedCompressor } from './builtins.js';
import type { Compressor } from './compressor.js';
import { BUILT_IN_COMPRESSOR_KINDS, createCompressivePolicyFromConfig, createCompressorFromConfig } from './from-config.js';
import { attentionReconstructionLoss, COMPRESSION_TRAINING_MODES, type CompressionTraining } from './losses.js';
import { createCompressivePolicy } from './policy.js';
import type { CompressivePolicy } from './policy-contract.js';
import { TEST_MODEL_CONFIG } from './test-support.js';

const config = TEST_MODEL_CONFIG;

/** Deterministic tokens of segment `step`, `[rows, T]`. */
function tokenValues(step: number, rows = 2, length = config.segmentLength): number[][] {
  return Array.from({ length: rows }, (_, row) =>
    Array.from({ length }, (_, t) => (step * 7 + row * 3 + t * 5 + ((step * t) % 3)) % config.vocabSize),
  );
}

function batchFor(step: number, rows = 2): Batch {
  const inputs = tf.tensor2d(tokenValues(step, rows), undefined, 'int32');
  const targets = tf.tensor2d(tokenValues(step + 100, rows), undefined, 'int32');
  return { inputs, targets };
}

function disposeBatches(batches: Batch[]): void {
  for (const batch of batches) tf.dispose([batch.inputs, batch.targets]);
}

/** Runs `steps` segments through `forward` without training; returns the new state and disposes logits. */
function warmUp(model: MemoryTransformer, state: MemoryState, steps: number, first = 0): MemoryState {
  let current = state;
  for (let step = first; step < first + steps; step++) {
    const { inputs, targets } = batchFor(step, current.batchSize);
    const result = model.forward(inputs, current, { training: true });
    result.logits.dispose();
    tf.dispose([inputs, targets]);
    current = result.state;
  }
  return current;
}

function snapshot(model: MemoryTransformer): Map<string, Float32Array> {
  const values = new Map<string, Float32Array>();
  for (const [name, variable] of Object.entries(model.namedVariables())) {
    values.set(name, variable.dataSync().slice() as Float32Array);
  }
  return values;
}

function changed(model: MemoryTransformer, before: Map<string, Float32Array>): Set<string> {
  const result = new Set<string>();
  for (const [name, variable] of Object.entries(model.namedVariables())) {
    const now = variable.dataSync();
    const old = before.get(name) as Float32Array;
    if (now.some((value, index) => value !== old[index])) result.add(name);
  }
  return result;
}

describe('compressive policy in the model', () => {
  it('with n_cm = 0 gives the same logits as FIFO (forward and after training steps)', () => {
    const fifo = createModel(config, { policy: createFifoPolicy({ memoryLength: 6 }) });
    const compressive = createModel(config, {
      policy: createCompressivePolicy({
        memoryLength: 6,
        compressedLength: 0,
        compressor: createConvCompressor({ rate: 2, seed: 1 }),
      }),
    });
    let fifoState = fifo.initialState(2);
    let compressiveState = compressive.initialState(2);
    const compare = (first: number): void => {
      for (let step = first; step < first + 3; step++) {
        const { inputs, targets } = batchFor(step);
        const a = fifo.forward(inputs, fifoState);
        const b = compressive.forward(inputs, compressiveState);
        expectClose(b.logits, a.logits, { atol: 1e-6, rtol: 1e-6 });
        tf.dispose([a.logits, b.logits, inputs, targets]);
        fifoState = a.state;
        compressiveState = b.state;
      }
    };
    compare(0);
    const fifoOptimizer = tf.train.adam(0.01);
    const compressiveOptimizer = tf.train.adam(0.01);
    const compressorOptimizer = tf.train.adam(0.01);
    for (let step = 3; step < 5; step++) {
      const batch = batchFor(step);
      const a = fifo.trainStep(batch, fifoState, { optimizer: fifoOptimizer });
      const b = compressive.trainStep(batch, compressiveState, { optimizer: compressiveOptimizer, separateOptimizer: compressorOptimizer });
      expect(b.loss).toBeCloseTo(a.loss, 5);
      expect(b.separateLoss).toBeNull();
      fifoState = a.state;
      compressiveState = b.state;
      disposeBatches([batch]);
    }
    compare(5);
    expect(compressive.temporalRange()).toBe(fifo.temporalRange());
    disposeState(fifoState);
    disposeState(compressiveState);
    fifoOptimizer.dispose();
    compressiveOptimizer.dispose();
    compressorOptimizer.dispose();
    fifo.dispose();
    compressive.dispose();
  });

  // SPEC 3.2: "The compression loss never changes transformer weights, and (except bptt) the LM loss never changes
  // compressor weights." Checked through the model's own trainStep: one step where only the main optimizer moves
  // (learning rate 0 for the separate one), one where only the separate optimizer moves.
  for (const training of ['none', 'attention-reconstruction', 'auto-encoding', 'bptt'] as const) {
    it(`${training}: which variables the LM loss and the compression loss change`, () => {
      const policy = createCompressivePolicy({
        memoryLength: 4,
        compressedLength: 2,
        compressor: createConvCompressor({ rate: 2, seed: 2 }),
        training,
        seed: 4,
      });
      const model = createModel(config, { policy });
      const names = Object.keys(model.namedVariables());
      const compressorNames = names.filter((name) => name.startsWith('policy.compressor.'));
      const decoderNames = names.filter((name) => name.startsWith('policy.decoder.'));
      const modelNames = names.filter((name) => !name.startsWith('policy.'));
      // Listed (and saved) in every mode; in 'none' they are frozen.
      expect(compressorNames.length).toBe(4);
      expect(decoderNames.length).toBe(training === 'auto-encoding' ? 4 : 0);
      let state = warmUp(model, model.initialState(2), 3);
      expect(policy.telemetry(state).perLayer.compressedSlots).toEqual([2, 2]);

      // 1. Language-model loss only (two segments unrolled, so compressed memory written in between is read).
      const step = tf.train.sgd(0.5);
      const frozen = tf.train.sgd(0);
      let before = snapshot(model);
      let batches = [batchFor(3), batchFor(4)];
      const lm = model.trainStep(batches, state, { optimizer: step, separateOptimizer: frozen });
      disposeBatches(batches);
      state = lm.state;
      expect(lm.applied).toBe(true);
      let moved = changed(model, before);
      expect(moved.has('embedding.weight')).toBe(true);
      expect(modelNames.filter((name) => moved.has(name)).length).toBeGreaterThan(modelNames.length / 2);
      for (const name of compressorNames) expect(moved.has(name), name).toBe(training === 'bptt');
      for (const name of decoderNames) expect(moved.has(name), name).toBe(false);
      const hasSeparateLoss = training === 'attention-reconstruction' || training === 'auto-encoding';
      expect(lm.separateLoss === null).toBe(!hasSeparateLoss);

      // 2. Compression loss only.
      before = snapshot(model);
      batches = [batchFor(5), batchFor(6)];
      const separate = model.trainStep(batches, state, { optimizer: frozen, separateOptimizer: step });
      disposeBatches(batches);
      state = separate.state;
      moved = changed(model, before);
      for (const name of modelNames) expect(moved.has(name), name).toBe(false);
      for (const name of compressorNames) expect(moved.has(name), name).toBe(hasSeparateLoss);
      for (const name of decoderNames) expect(moved.has(name), name).toBe(training === 'auto-encoding');
      if (hasSeparateLoss) expect(separate.separateLoss).toBeGreaterThan(0);

      disposeState(state);
      step.dispose();
      frozen.dispose();
      model.dispose();
    });
  }
});

/** Every built-in compressor at rate 2, with every training mode when it is trainable and `none` otherwise. */
const compressorCases: [string, () => Compressor, readonly CompressionTraining[]][] = BUILT_IN_COMPRESSOR_KINDS.map((kind) => {
  const make = (): Compressor => createCompressorFromConfig({ kind, rate: 2, seed: 5 });
  return [kind, make, make().trainable ? COMPRESSION_TRAINING_MODES : ['none']];
});

describe('every compressor x training mode trains in the model (smoke)', () => {
  for (const [name, make, modes] of compressorCases) {
    for (const training of modes) {
      it(`${name} / ${training}: trains, evaluates and streams without leaking tensors`, () => {
        const baseline = tf.memory().numTensors;
        const policy = createCompressivePolicy({ memoryLength: 4, compressedLength: 2, compressor: make(), training });
        const model = createModel(config, { policy });
        const optimizer = tf.train.adam(0.01);
        const separateOptimizer = tf.train.adam(0.01);
        let state = model.initialState(2);
        const counts: number[] = [];
        const losses: number[] = [];
        for (let step = 0; step < 6; step++) {
          const batches = training === 'bptt' ? [batchFor(2 * step), batchFor(2 * step + 1)] : [batchFor(step)];
          const result = model.trainStep(training === 'bptt' ? batches : (batches[0] as Batch), state, {
            optimizer,
            separateOptimizer,
          });
          disposeBatches(batches);
          state = result.state;
          losses.push(result.loss);
          expect(Number.isFinite(result.loss)).toBe(true);
          expect(result.applied).toBe(true);
          if (training === 'attention-reconstruction' || training === 'auto-encoding') {
            if (step >= 1) expect(Number.isFinite(result.separateLoss)).toBe(true);
          } else {
            expect(result.separateLoss).toBeNull();
          }
          counts.push(tf.memory().numTensors);
        }
        // Steady state: memory is full from the third step on, so the tensor count must not grow.
        expect(counts[5]).toBe(counts[3]);
        expect(policy.telemetry(state).perLayer.compressedSlots).toEqual([2, 2]);
        expect(policy.telemetry(state).memorySlots).toEqual([6, 6]);

        const { inputs, targets } = batchFor(50);
        const evaluation = model.evaluate(inputs, targets, state);
        tf.dispose([inputs, targets]);
        state = evaluation.state;
        expect(Number.isFinite(evaluation.nllSum / evaluation.count)).toBe(true);

        const stream = model.createStream();
        for (const token of [1, 5, 2, 7, 3, 9, 4, 0, 6, 8, 1, 2, 3]) {
          const logits = stream.push(token);
          expect(logits.length).toBe(config.vocabSize);
          expect(logits.every(Number.isFinite)).toBe(true);
        }
        expect(policy.telemetry(stream.state).perLayer.compressedSlots).toEqual([2, 2]);
        stream.dispose();

        disposeState(state);
        optimizer.dispose();
        separateOptimizer.dispose();
        model.dispose();
        expect(tf.memory().numTensors).toBe(baseline);
      });
    }
  }
});

describe('streaming and weights with compressed memory', () => {
  for (const [name, make] of [
    ['conv', () => createConvCompressor({ rate: 2, seed: 6 })],
    ['most-used', () => createMostUsedCompressor({ rate: 2 })],
  ] as const) {
    it(`${name}: streaming logits equal teacher-forced logits (SPEC 6) through compressed memory`, () => {
      const policy: MemoryPolicy = createCompressivePolicy({ memoryLength: 4, compressedLength: 3, compressor: make() });
      const model = createModel(config, { policy });
      const stream = model.createStream();
      let state = model.initialState(1);
      for (let segment = 0; segment < 5; segment++) {
        const values = tokenValues(segment, 1)[0] as number[];
        const streamed = values.map((token) => Array.from(stream.push(token)));
        const inputs = tf.tensor2d([values], undefined, 'int32');
        const result = model.forward(inputs, state);
        inputs.dispose();
        expectClose(streamed, (result.logits.arraySync() as number[][][])[0] as number[][], { atol: 1e-4, rtol: 1e-4 });
        result.logits.dispose();
        state = result.state;
      }
      expect((policy as CompressivePolicy).telemetry(state).perLayer.compressedSlots).toEqual([3, 3]);
      expect(policy.read(state, 0).contiguous).toBe(false);
      stream.dispose();
      disposeState(state);
      model.dispose();
    });
  }

  it('saves and loads a model with its compressor weights (policy rebuilt from the saved config)', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'engram-compression-'));
    try {
      const policy = createCompressivePolicy({
        memoryLength: 4,
        compressedLength: 2,
        compressor: createDilatedConvCompressor({ rate: 2 }),
        training: 'auto-encoding',
      });
      const model = createModel(config, { policy });
      await saveModel(model, directory);
      const saved = await readModelConfig(directory);
      const loaded = await loadModel(directory, { policy: createCompressivePolicyFromConfig(saved.policy.config) });
      const original = policy.getWeights();
      const restored = (loaded.policy as CompressivePolicy).getWeights();
      expect(Object.keys(restored).sort()).toEqual(Object.keys(original).sort());
      for (const key of Object.keys(original)) expectClose(restored[key] as tf.Tensor, original[key] as tf.Tensor, { atol: 0, rtol: 0 });
      tf.dispose([...Object.values(original), ...Object.values(restored)]);
      // Same logits once compressed memory is in play.
      let a = warmUp(model, model.initialState(2), 3);
      let b = warmUp(loaded, loaded.initialState(2), 3);
      const { inputs, targets } = batchFor(9);
      const x = model.forward(inputs, a);
      const y = loaded.forward(inputs, b);
      expectClose(y.logits, x.logits, { atol: 1e-6, rtol: 1e-6 });
      a = x.state;
      b = y.state;
      tf.dispose([x.logits, y.logits, inputs, targets]);
      disposeState(a);
      disposeState(b);
      model.dispose();
      loaded.dispose();
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('attention-reconstruction loss with the model content attention', () => {
  it.each(['pre', 'post'] as const)(
    '%s-norm: the hand-written key gradient (attendWithGradient) gives the value and gradient of the nested-gradient fallback, to the compressed input only',
    (norm) => {
      // A FIFO model whose policy keeps the content attentions of the record it is handed.
      let captured: readonly ContentAttention[] = [];
      const fifo = createFifoPolicy({ memoryLength: 4 });
      const policy: MemoryPolicy = Object.assign(Object.create(fifo) as MemoryPolicy, {
        write: (...args: Parameters<MemoryPolicy['write']>) => {
          captured = args[1].contentAttention;
          return fifo.write(...args);
        },
      });
      // Odd shapes: batch 3, queries 5, 8 evicted memories compressed to 3, heads 2 of width 3; norms off 1 and 0.
      const model = createModel({ ...config, modelDim: 6, numHeads: 2, norm }, { policy });
      const variables = Object.entries(model.namedVariables());
      for (const [name, variable] of variables) {
        if (!name.includes('attention_norm')) continue;
        const value = tf.randomNormal(variable.shape, name.endsWith('weight') ? 1 : 0, 0.5, 'float32', 60);
        variable.assign(value);
        value.dispose();
      }
      const { inputs, targets } = batchFor(0, 3);
      const result = model.forward(inputs, model.initialState(3));
      const h = tf.randomNormal([3, 5, 6], 0, 1, 'float32', 61) as tf.Tensor3D;
      const old = tf.randomNormal([3, 8, 6], 0, 1, 'float32', 62) as tf.Tensor3D;
      const compressed = tf.variable(tf.randomNormal([3, 3, 6], 0, 1, 'float32', 63), true, `model-test-compressed-${norm}`);
      const every = [compressed, ...variables.map(([, variable]) => variable)];
      expect(captured).toHaveLength(config.numLayers);
      for (const attention of captured) {
        const offered = attention.forQueries!(h);
        expect(typeof offered.attendWithGradient).toBe('function');
        offered.dispose();
        // The same attention without attendWithGradient: the loss takes the nested-gradient path.
        const fallback: ContentAttention = Object.assign((q: tf.Tensor3D, x: tf.Tensor3D) => attention(q, x), {
          forQueries: (q: tf.Tensor3D) => {
            const { attend, dispose } = attention.forQueries!(q);
            return { attend, dispose };
          },
        });
        const loss = (form: ContentAttention) => () => attentionReconstructionLoss(form, h, old, tf.mul(compressed, 1) as tf.Tensor3D);
        const nested = tf.variableGrads(loss(fallback), every);
        const before = tf.memory().numTensors;
        const hand = tf.variableGrads(loss(attention), every);
        expect(tf.memory().numTensors).toBe(before + 2);
        expect(Object.keys(hand.grads)).toEqual([compressed.name]);
        expect(Object.keys(nested.grads)).toEqual([compressed.name]);
        expectClose(hand.value, nested.value, { atol: 1e-7, rtol: 1e-5, message: `${norm}-norm value` });
        expectClose(hand.grads[compressed.name] as tf.Tensor, nested.grads[compressed.name] as tf.Tensor, {
          atol: 1e-6,
          rtol: 1e-4,
          message: `${norm}-norm gradient`,
        });
        expect(Array.from((hand.grads[compressed.name] as tf.Tensor).dataSync()).some((v) => Math.abs(v) > 1e-4)).toBe(true);
        tf.dispose([hand.value, nested.value, ...Object.values(hand.grads), ...Object.values(nested.grads)]);
      }
      tf.dispose([inputs, targets, h, old, compressed, result.logits]);
      disposeState(result.state);
      model.dispose();
    },
  );
});

describe('attention-reconstruction loss from the forward pass projections', () => {
  it.each([
    ['pre', 2],
    ['post', 2],
    ['pre', 3],
  ] as const)(
    '%s-norm, rate %i: trainStep reuses the attention projections for the target and trains exactly as the recomputed loss (gradient checkpointing), without leaks',
    (norm, rate) => {
      // Segments of 4 through a regular memory of 4: 4 memories are evicted per step. At rate 2 the buffer stays
      // empty (every step reuses the projections); at rate 3 a leftover waits in the buffer on alternate steps, and
      // those steps recompute the target.
      const build = (recomputeBlocks: boolean) => {
        const policy = createCompressivePolicy({
          memoryLength: 4,
          compressedLength: 4,
          compressor: createConvCompressor({ rate, seed: 5 }),
          training: 'attention-reconstruction',
        });
        const reused: boolean[] = [];
        const separateLoss = policy.separateLoss?.bind(policy);
        Object.assign(policy, {
          separateLoss: (...args: Parameters<NonNullable<MemoryPolicy['separateLoss']>>) => {
            reused.push(args[1].attentionProjections !== undefined);
            return separateLoss?.(...args) ?? null;
          },
        });
        const model = createModel({ ...config, norm, recomputeBlocks }, { policy });
        return { model, policy, reused };
      };
      const projected = build(false);
      const recomputed = build(true);
      expect(projected.policy.needsAttentionProjections).toBe(true);
      const runs = [projected, recomputed].map(({ model }) => ({
        model,
        state: model.initialState(2),
        optimizer: tf.train.adam(1e-2),
        separateOptimizer: tf.train.adam(1e-2),
      }));
      const separateLosses: (number | null)[][] = [[], []];
      let tensorsAfterWarmUp = 0;
      for (let step = 0; step < 6; step++) {
        runs.forEach((run, index) => {
          const batch = batchFor(step);
          const result = run.model.trainStep(batch, run.state, { optimizer: run.optimizer, separateOptimizer: run.separateOptimizer });
          disposeBatches([batch]);
          run.state = result.state;
          (separateLosses[index] as (number | null)[]).push(result.separateLoss);
        });
        if (step === 2) tensorsAfterWarmUp = tf.memory().numTensors;
      }
      expect(tf.memory().numTensors).toBe(tensorsAfterWarmUp);
      // Only the model without checkpointing hands the projections over; both compute the same losses and weights.
      expect(projected.reused.every((value) => value)).toBe(true);
      expect(recomputed.reused.some((value) => value)).toBe(false);
      const [withProjections, fallback] = separateLosses as [(number | null)[], (number | null)[]];
      expect(withProjections.filter((value) => value !== null).length).toBeGreaterThanOrEqual(3);
      withProjections.forEach((value, step) => {
        const other = fallback[step] ?? null;
        expect(value === null, `step ${step}`).toBe(other === null);
        if (value !== null && other !== null) expect(Math.abs(value - other), `step ${step}: ${value} vs ${other}`).toBeLessThanOrEqual(1e-5 * Math.abs(other) + 1e-7);
      });
      const weights = runs.map(({ model }) => model.namedVariables());
      for (const [name, variable] of Object.entries(weights[0] as Record<string, tf.Variable>)) {
        expectClose(variable, (weights[1] as Record<string, tf.Variable>)[name] as tf.Variable, { atol: 1e-5, rtol: 1e-4, message: name });
      }
      for (const run of runs) {
        disposeState(run.state);
        run.optimizer.dispose();
        run.separateOptimizer.dispose();
        run.model.dispose();
      }
    },
  );
});

describe('write stores the blocks the separate loss compressed', () => {
  it('the compressed memory after a step is f_c of the evicted block with the compressor of that step, not the updated one; nothing leaks', () => {
    const build = () =>
      createModel(config, {
        policy: createCompressivePolicy({
          memoryLength: 4,
          compressedLength: 4,
          compressor: createConvCompressor({ rate: 2, seed: 5 }),
          training: 'attention-reconstruction',
        }),
      });
    // Two identical models; the transformer is frozen in both, the compressor trains only in the first.
    const models = [build(), build()];
    const frozen = tf.train.sgd(0);
    const compressorSteps = [tf.train.sgd(5), tf.train.sgd(0)];
    const compressorNames = Object.keys(models[0]?.namedVariables() ?? {}).filter((name) => name.startsWith('policy.compressor.'));
    expect(compressorNames.length).toBeGreaterThan(0);
    const states = models.map((model) => warmUp(model, model.initialState(2), 2));
    const before = snapshot(models[0] as MemoryTransformer);
    const tensors = tf.memory().numTensors;
    const next = models.map((model, index) => {
      const batch = batchFor(7);
      const result = model.trainStep(batch, states[index] as MemoryState, { optimizer: frozen, separateOptimizer: compressorSteps[index] as tf.Optimizer });
      disposeBatches([batch]);
      expect(result.separateLoss).toBeGreaterThan(0);
      return result.state;
    });
    const moved = changed(models[0] as MemoryTransformer, before);
    for (const name of compressorNames) expect(moved.has(name), name).toBe(true);
    // Same compressed memory in both: each stored what its loss compressed before the (first model's) update.
    next[0]?.layers.forEach((memory, layer) => {
      const other = next[1]?.layers[layer];
      expect(memory.extra.compressed?.shape[1]).toBeGreaterThan(0);
      expectClose(memory.extra.compressed as tf.Tensor, other?.extra.compressed as tf.Tensor, { atol: 0, rtol: 0, message: `layer ${layer}` });
    });
    // The step kept what it always keeps: the new states replace the old ones tensor for tensor.
    expect(tf.memory().numTensors).toBe(tensors);
    for (const state of next) disposeState(state);
    for (const model of models) model.dispose();
    frozen.dispose();
    for (const optimizer of compressorSteps) optimizer.dispose();
  });
});
