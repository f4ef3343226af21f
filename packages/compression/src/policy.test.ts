// Tests of the compressive MemoryPolicy (SPEC 3) with synthetic segment records, against a plain-array simulator.
import * as tf from '@tensorflow/tfjs';
import { expectClose } from '@engram/kernels/testing';
import { createFifoPolicy, disposeState, disposeStateExcept } from '@engram/memory';
import type { MemoryState, SegmentRecord } from '@engram/memory';
import { testMemoryPolicy, testMemoryPolicyDescriptor } from '@engram/memory/testing';
import { compressivePolicyDescriptor } from './descriptor.js';
import { createModel } from '@engram/model';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createConvCompressor,
  createDilatedConvCompressor,
  createMaxPoolCompressor,
  createMeanPoolCompressor,
  createMostUsedCompressor,
} from './builtins.js';
import type { Compressor } from './compressor.js';
import { CompressionStateError, InvalidCompressionOptionError, InvalidCompressorInputError } from './errors.js';
import type { CompressionTraining } from './losses.js';
import { createCompressivePolicy } from './policy.js';
import type { CompressivePolicy } from './policy-contract.js';
import {
  createTestAttention,
  disposeRecord,
  inputValue,
  makeRecord,
  MemorySimulator,
} from './test-support.js';

// The conformance suite for every compressor and training mode; with the model: streaming through compressed
// memory, and SPEC 2.3 when no compressed memory is kept (n_cm = 0 is a FIFO).
const conformance: [string, () => CompressivePolicy][] = [
  ['max-pool', () => createCompressivePolicy({ memoryLength: 4, compressedLength: 3, compressor: createMaxPoolCompressor({ rate: 2 }) })],
  ['mean-pool', () => createCompressivePolicy({ memoryLength: 4, compressedLength: 3, compressor: createMeanPoolCompressor({ rate: 2 }) })],
  ['conv, attention-reconstruction', () => createCompressivePolicy({ memoryLength: 4, compressedLength: 3, compressor: createConvCompressor({ rate: 2, seed: 1 }) })],
  ['conv, auto-encoding', () => createCompressivePolicy({ memoryLength: 4, compressedLength: 3, compressor: createConvCompressor({ rate: 2, seed: 1 }), training: 'auto-encoding', seed: 2 })],
  ['conv, bptt', () => createCompressivePolicy({ memoryLength: 4, compressedLength: 3, compressor: createConvCompressor({ rate: 2, seed: 1 }), training: 'bptt' })],
  ['dilated-conv', () => createCompressivePolicy({ memoryLength: 4, compressedLength: 3, compressor: createDilatedConvCompressor({ rate: 2, seed: 1 }) })],
  ['most-used', () => createCompressivePolicy({ memoryLength: 4, compressedLength: 3, compressor: createMostUsedCompressor({ rate: 2 }) })],
];
for (const [name, create] of conformance) {
  testMemoryPolicy({
    create,
    name: `MemoryPolicy conformance: compressive, ${name}`,
    model: {
      createModel,
      keepEverything: () => createCompressivePolicy({ memoryLength: 64, compressedLength: 0, compressor: createMeanPoolCompressor({ rate: 2 }) }),
    },
  });
}

testMemoryPolicyDescriptor(compressivePolicyDescriptor, { memoryLength: 8, compressedLength: 4, compressionRate: 3 });
testMemoryPolicyDescriptor(
  compressivePolicyDescriptor,
  { memoryLength: 8, compressedLength: 4, compressionRate: 2, compressor: 'dilated-conv', training: 'bptt', bpttSegments: 3 },
  { name: 'compressive descriptor, dilated-conv in bptt' },
);
testMemoryPolicyDescriptor(
  compressivePolicyDescriptor,
  { memoryLength: 8, compressedLength: 4, compressionRate: 2, compressor: 'most-used', evalMemoryLength: 16 },
  { name: 'compressive descriptor, most-used' },
);

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()?.();
});

function built(policy: CompressivePolicy, numLayers: number, modelDim: number, segmentLength = 4): CompressivePolicy {
  policy.build({ numLayers, modelDim, numHeads: 1, segmentLength });
  cleanups.push(() => policy.dispose());
  return policy;
}

/** Writes one synthetic segment and returns the next state (the old one is disposed like the model does). */
function advance(
  policy: CompressivePolicy,
  state: MemoryState,
  options: { batch: number; segmentLength: number; width: number; training?: boolean; probabilities?: tf.Tensor4D[] },
): MemoryState {
  const record = makeRecord({
    numLayers: state.layers.length,
    batch: options.batch,
    segmentLength: options.segmentLength,
    width: options.width,
    start: state.tokensSeen,
    ...(options.training === undefined ? {} : { training: options.training }),
    ...(options.probabilities ? { probabilities: options.probabilities } : {}),
  });
  const next = policy.write(state, record);
  disposeStateExcept(state, next);
  disposeRecord(record);
  return next;
}

function rows<T>(tensor: tf.Tensor | undefined | null): T[][] {
  return tensor ? (tensor.arraySync() as T[][]) : [];
}

describe('compressive policy: memory as it fills and rolls over (SPEC 3)', () => {
  for (const [segmentLength, memoryLength, compressedLength, rate] of [
    [3, 4, 3, 2],
    [4, 4, 2, 2],
    [2, 5, 2, 3],
    [4, 0, 3, 2],
  ] as const) {
    it(`T=${segmentLength}, n_m=${memoryLength}, n_cm=${compressedLength}, c=${rate}: mean-pool matches the simulator`, () => {
      const numLayers = 2;
      const batch = 2;
      const width = 3;
      const policy = built(
        createCompressivePolicy({
          memoryLength,
          compressedLength,
          compressor: createMeanPoolCompressor({ rate }),
        }),
        numLayers,
        width,
        segmentLength,
      );
      const simulators = [0, 1].map(() => new MemorySimulator(memoryLength, compressedLength, rate));
      let state = policy.initialState(batch);
      for (let step = 0; step < 8; step++) {
        const positions = Array.from({ length: segmentLength }, (_, t) => state.tokensSeen + t);
        state = advance(policy, state, { batch, segmentLength, width });
        simulators.forEach((simulator) => simulator.step(positions));
        expect(state.tokensSeen).toBe((step + 1) * segmentLength);
        state.layers.forEach((memory, layer) => {
          const simulator = simulators[layer] as MemorySimulator;
          const regular = simulator.regular.map((token) => token.position);
          const compressed = simulator.compressed.map((slot) => slot.position);
          for (let row = 0; row < batch; row++) {
            expect(rows<number>(memory.positions)[row] ?? []).toEqual(regular);
            expect(rows<number>(memory.extra.compressedPositions)[row] ?? []).toEqual(compressed);
            expect(rows<number>(memory.extra.bufferPositions)[row] ?? []).toEqual(
              simulator.buffer.map((token) => token.position),
            );
          }
          // Values: regular slots are the layer inputs, compressed slots the mean of their sources.
          const expectedRegular = [0, 1].map((row) =>
            regular.map((position) => [0, 1, 2].map((d) => inputValue(layer, row, position, d))),
          );
          if (regular.length > 0) expectClose(memory.hidden as tf.Tensor, expectedRegular);
          else expect(memory.hidden).toBeNull();
          const expectedCompressed = [0, 1].map((row) =>
            simulator.compressed.map((slot) =>
              [0, 1, 2].map(
                (d) => slot.sources.reduce((sum, position) => sum + inputValue(layer, row, position, d), 0) / rate,
              ),
            ),
          );
          if (compressed.length > 0) expectClose(memory.extra.compressed as tf.Tensor, expectedCompressed);
          else expect(memory.extra.compressed).toBeUndefined();
          // What attention reads: concat(compressed, regular); contiguous only without compressed slots.
          let view = { positions: null as number[][] | null, slots: 0, contiguous: false, oldest: undefined as number | undefined };
          tf.tidy(() => {
            const read = policy.read(state, layer);
            view = {
              positions: read.positions ? (read.positions.arraySync() as number[][]) : null,
              slots: read.hidden ? read.hidden.shape[1] : 0,
              contiguous: read.contiguous,
              oldest: read.oldestPosition,
            };
          });
          expect(view.contiguous).toBe(compressed.length === 0);
          // With compressed slots the view states its smallest position (the model's distance bound); without, the
          // contiguous view needs none.
          expect(view.oldest).toBe(compressed.length === 0 ? undefined : Math.min(...(view.positions ?? []).flat()));
          expect(view.slots).toBe(regular.length + compressed.length);
          expect(view.positions?.[1] ?? []).toEqual([...compressed, ...regular]);
          expect(compressed.length).toBeLessThanOrEqual(compressedLength);
          expect(regular.length).toBeLessThanOrEqual(memoryLength);
        });
        const telemetry = policy.telemetry(state);
        expect(telemetry.perLayer.regularSlots).toEqual(simulators.map((s) => s.regular.length));
        expect(telemetry.perLayer.compressedSlots).toEqual(simulators.map((s) => s.compressed.length));
        expect(telemetry.perLayer.bufferedSlots).toEqual(simulators.map((s) => s.buffer.length));
        expect(telemetry.memorySlots).toEqual(simulators.map((s) => s.regular.length + s.compressed.length));
      }
      disposeState(state);
    });
  }

  it('read returns the regular memory as is (contiguous) until something is compressed', () => {
    const policy = built(
      createCompressivePolicy({ memoryLength: 8, compressedLength: 2, compressor: createMaxPoolCompressor({ rate: 2 }) }),
      1,
      2,
    );
    let state = policy.initialState(1);
    expect(policy.read(state, 0)).toEqual({ hidden: null, positions: null, contiguous: true });
    state = advance(policy, state, { batch: 1, segmentLength: 4, width: 2 });
    const view = policy.read(state, 0);
    expect(view.hidden).toBe(state.layers[0]?.hidden);
    expect(view.contiguous).toBe(true);
    expect(() => policy.read(state, 1)).toThrow(InvalidCompressorInputError);
    disposeState(state);
  });

  it('uses the evaluation lengths when the record is not training', () => {
    const policy = built(
      createCompressivePolicy({
        memoryLength: 2,
        compressedLength: 1,
        evalMemoryLength: 4,
        evalCompressedLength: 3,
        compressor: createMeanPoolCompressor({ rate: 2 }),
      }),
      1,
      2,
    );
    let state = policy.initialState(1);
    for (let step = 0; step < 4; step++) state = advance(policy, state, { batch: 1, segmentLength: 2, width: 2, training: false });
    expect(policy.telemetry(state).perLayer).toMatchObject({ regularSlots: [4], compressedSlots: [2] });
    state = advance(policy, state, { batch: 1, segmentLength: 2, width: 2, training: false });
    expect(policy.telemetry(state).perLayer).toMatchObject({ regularSlots: [4], compressedSlots: [3] });
    state = advance(policy, state, { batch: 1, segmentLength: 2, width: 2, training: true });
    expect(policy.telemetry(state).perLayer).toMatchObject({ regularSlots: [2], compressedSlots: [1] });
    expect(rows<number>(state.layers[0]?.extra.compressedPositions)).toEqual([[8]]);
    disposeState(state);
  });

  it('with n_cm = 0 keeps exactly the states of the FIFO policy', () => {
    const compressive = built(
      createCompressivePolicy({ memoryLength: 5, compressedLength: 0, compressor: createConvCompressor({ rate: 2, seed: 1 }) }),
      2,
      3,
    );
    const fifo = createFifoPolicy({ memoryLength: 5 });
    fifo.build({ numLayers: 2, modelDim: 3, numHeads: 1, segmentLength: 3 });
    let a = compressive.initialState(2);
    let b = fifo.initialState(2);
    for (let step = 0; step < 5; step++) {
      const record = makeRecord({ numLayers: 2, batch: 2, segmentLength: 3, width: 3, start: a.tokensSeen });
      const nextA = compressive.write(a, record);
      const nextB = fifo.write(b, record);
      disposeStateExcept(a, nextA);
      disposeStateExcept(b, nextB);
      disposeRecord(record);
      a = nextA;
      b = nextB;
      a.layers.forEach((memory, layer) => {
        expect(memory.extra).toEqual({});
        expect(memory.hidden?.arraySync()).toEqual(b.layers[layer]?.hidden?.arraySync());
        expect(memory.positions?.arraySync()).toEqual(b.layers[layer]?.positions?.arraySync());
        const view = compressive.read(a, layer);
        expect(view.contiguous).toBe(true);
      });
    }
    expect(compressive.temporalRange(2)).toBe(fifo.temporalRange(2));
    disposeState(a);
    disposeState(b);
  });
});

describe('compressive policy: most-used (SPEC 3.1)', () => {
  it('tracks usage per regular slot and keeps the highest-usage memories in temporal order', () => {
    const [batch, heads, segmentLength, width, memoryLength, compressedLength, rate] = [2, 2, 4, 2, 4, 4, 2];
    const policy = built(
      createCompressivePolicy({ memoryLength, compressedLength, compressor: createMostUsedCompressor({ rate }) }),
      1,
      width,
      segmentLength,
    );
    expect(policy.needsAttentionProbabilities).toBe(true);
    const simulators = [0, 1].map(() => new MemorySimulator(memoryLength, compressedLength, rate, 'most-used'));
    let state = policy.initialState(batch);
    for (let step = 0; step < 7; step++) {
      const memory = state.layers[0];
      const compressedSlots = memory?.extra.compressed?.shape[1] ?? 0;
      const regularSlots = memory?.hidden?.shape[1] ?? 0;
      const keys = compressedSlots + regularSlots + segmentLength;
      const probabilities = tf.tidy(() =>
        tf.softmax(tf.mul(tf.randomNormal([batch, heads, segmentLength, keys], 0, 1, 'float32', 100 + step), 3)),
      ) as tf.Tensor4D;
      const values = probabilities.arraySync();
      const positions = Array.from({ length: segmentLength }, (_, t) => state.tokensSeen + t);
      simulators.forEach((simulator, row) => {
        const received = Array.from({ length: regularSlots }, (_, slot) => {
          let sum = 0;
          for (let h = 0; h < heads; h++) {
            for (let t = 0; t < segmentLength; t++) sum += values[row]?.[h]?.[t]?.[compressedSlots + slot] as number;
          }
          return sum;
        });
        simulator.step(positions, received);
      });
      state = advance(policy, state, { batch, segmentLength, width, probabilities: [probabilities] });
      const after = state.layers[0];
      simulators.forEach((simulator, row) => {
        const expected = simulator.compressed.map((slot) => slot.position);
        expect(rows<number>(after?.extra.compressedPositions)[row] ?? []).toEqual(expected);
        // Each kept memory is the layer input at its own position.
        const hidden = rows<number[]>(after?.extra.compressed)[row] ?? [];
        hidden.forEach((slot, index) => {
          expectClose(slot, [0, 1].map((d) => inputValue(0, row, expected[index] as number, d)));
        });
        const usageSum = rows<number>(after?.extra.usageSum)[row] ?? [];
        expectClose(
          usageSum,
          simulator.regular.map((token) => token.usageSum),
          { atol: 1e-4 },
        );
        expect(rows<number>(after?.extra.usageCount)[row] ?? []).toEqual(simulator.regular.map((t) => t.usageCount));
      });
      // Ordering: temporal within the compressed memory.
      const positionsNow = rows<number>(after?.extra.compressedPositions);
      for (const row of positionsNow) expect([...row].sort((a, b) => a - b)).toEqual(row);
    }
    // The rows diverge: different attention, different memories kept.
    const kept = rows<number>(state.layers[0]?.extra.compressedPositions);
    expect(kept[0]).not.toEqual(kept[1]);
    disposeState(state);
  });

  it('asks for attention probabilities and rejects a record without them', () => {
    const policy = built(
      createCompressivePolicy({ memoryLength: 2, compressedLength: 2, compressor: createMostUsedCompressor({ rate: 2 }) }),
      1,
      2,
    );
    let state = policy.initialState(1);
    // The first segment has no memory to score: probabilities are not needed yet.
    state = advance(policy, state, { batch: 1, segmentLength: 2, width: 2 });
    expect(() => advance(policy, state, { batch: 1, segmentLength: 2, width: 2 })).toThrow(/attentionProbabilities/);
    const wrong = tf.ones([1, 1, 2, 3]) as tf.Tensor4D;
    expect(() => advance(policy, state, { batch: 1, segmentLength: 2, width: 2, probabilities: [wrong] })).toThrow(
      /keys = 0 compressed \+ 2 regular \+ 2 current/,
    );
    wrong.dispose();
    disposeState(state);
  });
});

/** A warmed-up state (memory full, compressed memory present) and a record whose write compresses. */
function warmState(policy: CompressivePolicy, width: number, steps = 3): MemoryState {
  let state = policy.initialState(2);
  for (let step = 0; step < steps; step++) state = advance(policy, state, { batch: 2, segmentLength: 4, width });
  expect(state.layers.every((memory) => (memory.extra.compressed?.shape[1] ?? 0) > 0)).toBe(true);
  return state;
}

function nonZero(gradients: tf.NamedTensorMap, variable: tf.Variable): boolean {
  const gradient = gradients[variable.name];
  return gradient !== undefined && Array.from(gradient.dataSync()).some((value) => value !== 0);
}

describe('compression losses (SPEC 3.2)', () => {
  const width = 4;
  const numLayers = 2;

  function setup(training: CompressionTraining, compressor: Compressor = createConvCompressor({ rate: 2, seed: 3 })) {
    const policy = built(
      createCompressivePolicy({ memoryLength: 4, compressedLength: 3, compressor, training, seed: 5 }),
      numLayers,
      width,
    );
    const attentions = [0, 1].map((layer) => createTestAttention(width, 40 + layer));
    cleanups.push(() => attentions.forEach((attention) => attention.dispose()));
    const state = warmState(policy, width);
    cleanups.push(() => disposeState(state));
    const record = makeRecord({
      numLayers,
      batch: 2,
      segmentLength: 4,
      width,
      start: state.tokensSeen,
      attention: attentions.map((attention) => attention.attention),
    });
    cleanups.push(() => disposeRecord(record));
    const transformerVariables = attentions.flatMap((attention) => attention.variables);
    const compressorVariables = policy.layerCompressors().flatMap((layer) => layer.variables());
    return { policy, state, record, attentions, transformerVariables, compressorVariables };
  }

  it('attention-reconstruction equals the per-layer MSE of content attention over evicted vs compressed, summed', () => {
    const { policy, state, record, attentions } = setup('attention-reconstruction');
    const loss = policy.compressionLoss(state, record);
    expect(loss).not.toBeNull();
    // Reference: evicted = the 4 oldest regular memories (full memory, T = 4), compressed by the layer's conv.
    const expected = state.layers.map((memory, layer) =>
      tf.tidy(() => {
        const old = memory.hidden as tf.Tensor3D;
        const positions = memory.positions as tf.Tensor2D;
        const compressed = policy.layerCompressors()[layer]?.compress({ hidden: old, positions }).hidden as tf.Tensor3D;
        const attention = attentions[layer]?.attention;
        const h = record.layerInputs[layer] as tf.Tensor3D;
        const a = attention?.(h, old) as tf.Tensor;
        const b = attention?.(h, compressed) as tf.Tensor;
        return tf.mean(tf.square(tf.sub(a, b))).dataSync()[0] as number;
      }),
    );
    expectClose(loss?.perLayer as number[], expected, { atol: 1e-6, rtol: 1e-5 });
    expectClose(loss?.total as tf.Scalar, expected[0]! + expected[1]!, { atol: 1e-6, rtol: 1e-5 });
    loss?.total.dispose();
    const separate = policy.separateLoss?.(state, record) as tf.Scalar;
    expectClose(separate, expected[0]! + expected[1]!, { atol: 1e-6, rtol: 1e-5 });
    separate.dispose();
  });

  it('auto-encoding equals the MSE between evicted memories and their decoding', () => {
    const { policy, state, record } = setup('auto-encoding');
    const loss = policy.compressionLoss(state, record);
    const weights = policy.getWeights();
    const expected = state.layers.map((memory, layer) =>
      tf.tidy(() => {
        const old = memory.hidden as tf.Tensor3D;
        const compressed = policy.layerCompressors()[layer]?.compress({
          hidden: old,
          positions: memory.positions as tf.Tensor2D,
        }).hidden as tf.Tensor3D;
        // Decoder by loops: slot j, part i of its [c*D] output is memory j*c + i.
        const decoderWeight = weights[`decoder.layers.${layer}.weight`]?.arraySync() as number[][];
        const decoderBias = weights[`decoder.layers.${layer}.bias`]?.arraySync() as number[];
        const slots = compressed.arraySync();
        const target = old.arraySync();
        let sum = 0;
        let count = 0;
        slots.forEach((rowSlots, row) =>
          rowSlots.forEach((slot, j) => {
            for (let i = 0; i < 2; i++) {
              for (let e = 0; e < width; e++) {
                let value = decoderBias[i * width + e] as number;
                slot.forEach((x, d) => (value += x * (decoderWeight[d]?.[i * width + e] as number)));
                sum += ((target[row]?.[j * 2 + i]?.[e] as number) - value) ** 2;
                count++;
              }
            }
          }),
        );
        return sum / count;
      }),
    );
    for (const tensor of Object.values(weights)) tensor.dispose();
    expectClose(loss?.perLayer as number[], expected, { atol: 1e-5, rtol: 1e-4 });
    loss?.total.dispose();
  });

  it('is null when nothing is compressed this segment, and for modes without a separate loss', () => {
    const policy = built(
      createCompressivePolicy({ memoryLength: 8, compressedLength: 2, compressor: createConvCompressor({ rate: 2, seed: 1 }) }),
      1,
      width,
    );
    const state = policy.initialState(2);
    const record = makeRecord({ numLayers: 1, batch: 2, segmentLength: 4, width, start: 0 });
    expect(policy.separateLoss?.(state, record)).toBeNull();
    disposeRecord(record);
    const { policy: bptt, state: warm, record: next } = setup('bptt');
    expect(bptt.separateLoss?.(warm, next)).toBeNull();
  });

  // The gradient isolation table of SPEC 3.2, checked over EVERY variable (transformer stand-ins, compressor, decoder).
  for (const training of ['none', 'attention-reconstruction', 'auto-encoding', 'bptt'] as const) {
    it(`${training}: which variables each loss reaches`, () => {
      const { policy, state, record, transformerVariables, compressorVariables } = setup(training);
      const decoderVariables = policy.separateVariables().filter((variable) => !compressorVariables.includes(variable));
      const all = [...transformerVariables, ...compressorVariables, ...decoderVariables];
      // Declared variable sets.
      expect(policy.variables()).toEqual(training === 'bptt' ? compressorVariables : []);
      // none: a trainable compressor is frozen but listed with the separate variables (so models save it).
      const separate = training === 'bptt' ? [] : [...compressorVariables, ...decoderVariables];
      expect(policy.separateVariables()).toEqual(separate);
      expect(decoderVariables.length).toBe(training === 'auto-encoding' ? 4 : 0);

      // 1. The compression loss, differentiated with respect to every variable.
      const loss = policy.separateLoss?.(state, record) ?? null;
      if (training === 'attention-reconstruction' || training === 'auto-encoding') {
        expect(loss).not.toBeNull();
        loss?.dispose();
        const { value, grads } = tf.variableGrads(() => policy.separateLoss?.(state, record) as tf.Scalar, all);
        value.dispose();
        for (const variable of transformerVariables) expect(nonZero(grads, variable), variable.name).toBe(false);
        for (const variable of [...compressorVariables, ...decoderVariables]) {
          expect(nonZero(grads, variable), variable.name).toBe(true);
        }
        tf.dispose(Object.values(grads));
      } else {
        expect(loss).toBeNull();
      }

      // 2. A language-model-like loss on the next segment, read through the memory this write produced
      //    (inside the gradient scope, as the model's unrolled trainStep does).
      const { value, grads } = tf.variableGrads(() => nextSegmentLoss(policy, policy.write(state, record), record), all);
      value.dispose();
      for (const variable of transformerVariables) expect(nonZero(grads, variable), variable.name).toBe(true);
      for (const variable of compressorVariables) {
        expect(nonZero(grads, variable), variable.name).toBe(training === 'bptt');
      }
      for (const variable of decoderVariables) expect(nonZero(grads, variable), variable.name).toBe(false);
      tf.dispose(Object.values(grads));
    });
  }

  for (const training of ['attention-reconstruction', 'auto-encoding'] as const) {
    for (const [name, compressor] of [
      ['conv', createConvCompressor({ rate: 2, seed: 7 })],
      ['dilated-conv', createDilatedConvCompressor({ rate: 2, seed: 7 })],
    ] as const) {
      it(`${training} with ${name} falls when trained on a fixed batch`, () => {
        const { policy, state, record } = setup(training, compressor);
        const optimizer = tf.train.adam(0.02);
        cleanups.push(() => optimizer.dispose());
        const losses: number[] = [];
        for (let step = 0; step < 40; step++) {
          const cost = optimizer.minimize(
            () => policy.separateLoss?.(state, record) as tf.Scalar,
            true,
            policy.separateVariables(),
          );
          losses.push(cost?.dataSync()[0] as number);
          cost?.dispose();
        }
        expect(losses.every(Number.isFinite)).toBe(true);
        expect(losses[losses.length - 1]).toBeLessThan(0.5 * (losses[0] as number));
      });
    }
  }
});

/**
 * A stand-in for the language-model loss of the next segment: every layer attends (with the transformer stand-in
 * projections) from its current input to `read(next, layer)`; sum of squares of the outputs.
 */
function nextSegmentLoss(policy: CompressivePolicy, next: MemoryState, record: SegmentRecord): tf.Scalar {
  const terms = next.layers.map((_, layer) => {
    const view = policy.read(next, layer);
    const output = record.contentAttention[layer]?.(record.layerInputs[layer] as tf.Tensor3D, view.hidden as tf.Tensor3D);
    return tf.sum(tf.square(output as tf.Tensor)) as tf.Scalar;
  });
  return tf.addN(terms) as tf.Scalar;
}

describe('compressive policy: state and weights', () => {
  it('serializes and restores a state with compressed memory, buffer and usage; writing on gives the same result', () => {
    const width = 2;
    const policy = built(
      createCompressivePolicy({ memoryLength: 3, compressedLength: 3, compressor: createMostUsedCompressor({ rate: 2 }) }),
      1,
      width,
      3,
    );
    const probabilitiesFor = (state: MemoryState, seed: number): tf.Tensor4D[] =>
      state.layers.map((memory) => {
        const keys = (memory.extra.compressed?.shape[1] ?? 0) + (memory.hidden?.shape[1] ?? 0) + 3;
        return tf.tidy(() => tf.softmax(tf.randomNormal([1, 1, 3, keys], 0, 1, 'float32', seed))) as tf.Tensor4D;
      });
    let state = policy.initialState(1);
    for (let step = 0; step < 4; step++) {
      state = advance(policy, state, { batch: 1, segmentLength: 3, width, probabilities: probabilitiesFor(state, step) });
    }
    const extra = state.layers[0]?.extra ?? {};
    expect(Object.keys(extra).sort()).toEqual(
      ['bufferHidden', 'bufferPositions', 'bufferUsage', 'compressed', 'compressedPositions', 'usageCount', 'usageSum'].sort(),
    );
    const serialized = policy.serializeState(state);
    expect(serialized.meta).toMatchObject({ kind: 'compressive', rate: 2, compressorKind: 'most-used', tokensSeen: 12 });
    const restored = policy.deserializeState(serialized);
    tf.dispose(Object.values(serialized.tensors));
    expect(restored.tokensSeen).toBe(12);
    for (const key of Object.keys(extra)) {
      expect(restored.layers[0]?.extra[key]?.arraySync()).toEqual(extra[key]?.arraySync());
    }
    const continued = advance(policy, state, { batch: 1, segmentLength: 3, width, probabilities: probabilitiesFor(state, 9) });
    const continuedRestored = advance(policy, restored, {
      batch: 1,
      segmentLength: 3,
      width,
      probabilities: probabilitiesFor(restored, 9),
    });
    expect(continuedRestored.layers[0]?.extra.compressedPositions?.arraySync()).toEqual(
      continued.layers[0]?.extra.compressedPositions?.arraySync(),
    );
    disposeState(continued);
    disposeState(continuedRestored);
  });

  it('rejects a state saved with another rate or with corrupt extras', () => {
    const policy = built(
      createCompressivePolicy({ memoryLength: 2, compressedLength: 2, compressor: createMeanPoolCompressor({ rate: 2 }) }),
      1,
      2,
    );
    let state = policy.initialState(1);
    for (let step = 0; step < 3; step++) state = advance(policy, state, { batch: 1, segmentLength: 2, width: 2 });
    const serialized = policy.serializeState(state);
    expect(() => policy.deserializeState({ ...serialized, meta: { ...serialized.meta, rate: 3 } })).toThrow(
      CompressionStateError,
    );
    const bad = tf.zeros([1, 2]);
    const before = tf.memory().numTensors;
    expect(() =>
      policy.deserializeState({ ...serialized, tensors: { ...serialized.tensors, 'layer0.extra.compressedPositions': bad } }),
    ).toThrow(/compressedPositions/);
    expect(tf.memory().numTensors).toBe(before);
    bad.dispose();
    tf.dispose(Object.values(serialized.tensors));
    disposeState(state);
  });

  it('round-trips compressor and decoder weights by stable names', () => {
    const make = (seed: number) =>
      built(
        createCompressivePolicy({
          memoryLength: 2,
          compressedLength: 2,
          compressor: createConvCompressor({ rate: 2, seed }),
          training: 'auto-encoding',
          seed,
        }),
        2,
        3,
      );
    const source = make(1);
    const target = make(2);
    const weights = source.getWeights();
    expect(Object.keys(weights).sort()).toEqual(
      [
        'compressor.layers.0.bias',
        'compressor.layers.0.weight',
        'compressor.layers.1.bias',
        'compressor.layers.1.weight',
        'decoder.layers.0.bias',
        'decoder.layers.0.weight',
        'decoder.layers.1.bias',
        'decoder.layers.1.weight',
      ].sort(),
    );
    target.setWeights(weights);
    const copied = target.getWeights();
    for (const name of Object.keys(weights)) expect(copied[name]?.arraySync()).toEqual(weights[name]?.arraySync());
    const bad = { ...weights, 'compressor.layers.1.weight': tf.zeros([1]) };
    const untouched = target.getWeights();
    expect(() => target.setWeights(bad)).toThrow(/compressor\.layers\.1\.weight/);
    const after = target.getWeights();
    // Nothing was assigned by the failed call.
    for (const name of Object.keys(untouched)) expect(after[name]?.arraySync()).toEqual(untouched[name]?.arraySync());
    tf.dispose([...Object.values(weights), ...Object.values(copied), ...Object.values(untouched), ...Object.values(after)]);
    bad['compressor.layers.1.weight'].dispose();
    expect(() => target.setWeights({ extra: tf.scalar(1) })).toThrow(/unexpected/);
  });

  it('gives every layer its own compressor with its own variables', () => {
    const policy = built(
      createCompressivePolicy({ memoryLength: 2, compressedLength: 2, compressor: createConvCompressor({ rate: 2, seed: 1 }) }),
      3,
      2,
    );
    const layers = policy.layerCompressors();
    expect(layers.map((layer) => layer.layer)).toEqual([0, 1, 2]);
    const names = policy.separateVariables().map((variable) => variable.name);
    expect(new Set(names).size).toBe(6);
    expect(names.every((name) => /^compressive\d+\/compressor\.layers\.\d\.(weight|bias)$/.test(name))).toBe(true);
  });
});

describe('compressive policy: options, config, temporal range', () => {
  it('defaults the training mode from the compressor', () => {
    const conv = createCompressivePolicy({ memoryLength: 4, compressedLength: 2, compressor: createConvCompressor({ rate: 3 }) });
    expect(conv.training).toBe('attention-reconstruction');
    const pool = createCompressivePolicy({ memoryLength: 4, compressedLength: 2, compressor: createMaxPoolCompressor({ rate: 3 }) });
    expect(pool.training).toBe('none');
    expect(pool.needsAttentionProbabilities).toBe(false);
  });

  it('reports L * (n_m + c * n_cm) and a config that names everything', () => {
    const policy = createCompressivePolicy({
      memoryLength: 6,
      compressedLength: 4,
      evalMemoryLength: 8,
      compressor: createDilatedConvCompressor({ rate: 3, seed: 2 }),
      training: 'bptt',
    });
    expect(policy.temporalRange(2)).toBe(2 * (6 + 3 * 4));
    expect(policy.kind).toBe('compressive');
    expect(policy.config()).toEqual({
      kind: 'compressive',
      memoryLength: 6,
      compressedLength: 4,
      evalMemoryLength: 8,
      evalCompressedLength: 4,
      training: 'bptt',
      compressor: { kind: 'dilated-conv', rate: 3, dilations: [1, 2, 4], seed: 2 },
    });
  });

  it('rejects bad options with the option named', () => {
    const compressor = createConvCompressor({ rate: 2 });
    expect(() => createCompressivePolicy({ memoryLength: -1, compressedLength: 2, compressor })).toThrow(/memoryLength/);
    expect(() => createCompressivePolicy({ memoryLength: 2, compressedLength: 1.5, compressor })).toThrow(
      /compressedLength/,
    );
    expect(() =>
      createCompressivePolicy({
        memoryLength: 2,
        compressedLength: 2,
        compressor: createConvCompressor as unknown as Compressor,
      }),
    ).toThrow(/not the factory itself/);
    expect(() =>
      createCompressivePolicy({ memoryLength: 2, compressedLength: 2, compressor, training: 'magic' as CompressionTraining }),
    ).toThrow(InvalidCompressionOptionError);
    expect(() =>
      createCompressivePolicy({
        memoryLength: 2,
        compressedLength: 2,
        compressor: createMeanPoolCompressor({ rate: 2 }),
        training: 'attention-reconstruction',
      }),
    ).toThrow(/no variables to train/);
  });
});
