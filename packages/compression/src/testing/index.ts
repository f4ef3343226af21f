// Conformance kit for Compressor implementations (ARCHITECTURE "plug-in contracts"): registers vitest tests.
import * as tf from '@tensorflow/tfjs';
import { pseudoRandom } from '@engram/memory/testing';
import { describe, expect, it } from 'vitest';
import type { Compressor, CompressorInput, LayerCompressor } from '../compressor.js';

/** Options of {@link testCompressor}. */
export interface TestCompressorOptions {
  /** Title of the `describe` block (default `Compressor conformance: <kind>`). */
  name?: string;
  /** Model width used in the tests (default 8). */
  modelDim?: number;
  /** Batch rows (default 2). */
  batchSize?: number;
  /** Compression blocks in the main test block (default 3, so n = 3 * rate). */
  blocks?: number;
}

/**
 * A test block: hidden `[batch, length, modelDim]`, consecutive positions starting at `100 * row + 7`, and usage
 * (positive) when the compressor needs it. The caller disposes the tensors.
 */
function makeInput(
  compressor: Pick<Compressor, 'needsUsage'>,
  batch: number,
  length: number,
  modelDim: number,
  seed: number,
): CompressorInput {
  const hidden = tf.tensor3d(pseudoRandom(batch * length * modelDim, seed), [batch, length, modelDim]);
  const positionValues = new Int32Array(batch * length);
  for (let row = 0; row < batch; row++) {
    for (let slot = 0; slot < length; slot++) positionValues[row * length + slot] = 100 * row + 7 + slot;
  }
  const positions = tf.tensor2d(positionValues, [batch, length], 'int32');
  if (!compressor.needsUsage) return { hidden, positions };
  const usage = tf.tensor2d(
    pseudoRandom(batch * length, seed + 1).map((value) => value + 1.5),
    [batch, length],
  );
  return { hidden, positions, usage };
}

function disposeInput(input: CompressorInput): void {
  input.hidden.dispose();
  input.positions.dispose();
  input.usage?.dispose();
}

function outputsOf(layer: LayerCompressor, input: CompressorInput): { hidden: Float32Array; positions: Int32Array } {
  const output = layer.compress(input);
  const result = {
    hidden: output.hidden.dataSync() as Float32Array,
    positions: output.positions.dataSync() as Int32Array,
  };
  output.hidden.dispose();
  output.positions.dispose();
  return result;
}

function disposeWeights(weights: Record<string, tf.Tensor>): void {
  for (const tensor of Object.values(weights)) tensor.dispose();
}

/**
 * Registers vitest tests (one `describe` block) that check a {@link Compressor} against the v1 contract:
 * declared fields, output shapes and dtypes, positions in temporal order inside the block's span, determinism
 * for a seed, independent parameters per layer, gradients reaching every variable (trainable compressors), no
 * tensor leak, weights round trip, and a clear error for a block whose length is not a multiple of the rate.
 * Call it at the top level of a test file.
 *
 * @param create makes a fresh compressor; `seed` is a base seed for its initialisers (ignore it when there are none)
 */
export function testCompressor(create: (options: { seed: number }) => Compressor, options: TestCompressorOptions = {}): void {
  const modelDim = options.modelDim ?? 8;
  const batch = options.batchSize ?? 2;
  const blocks = options.blocks ?? 3;
  const probe = create({ seed: 1 });
  const title = options.name ?? `Compressor conformance: ${probe.kind}`;
  const rate = probe.rate;
  const length = rate * blocks;

  describe(title, () => {
    it('declares a v1 contract with a rate and a JSON-safe config', () => {
      const compressor = create({ seed: 1 });
      expect(compressor.specificationVersion).toBe('v1');
      expect(typeof compressor.kind).toBe('string');
      expect(compressor.kind.length).toBeGreaterThan(0);
      expect(Number.isInteger(compressor.rate) && compressor.rate >= 1).toBe(true);
      expect(typeof compressor.needsUsage).toBe('boolean');
      expect(typeof compressor.trainable).toBe('boolean');
      const config = compressor.config();
      expect(JSON.parse(JSON.stringify(config))).toEqual(config);
      const layer = compressor.build({ modelDim, layer: 0 });
      try {
        expect(layer.rate).toBe(compressor.rate);
        expect(layer.needsUsage).toBe(compressor.needsUsage);
        expect(layer.layer).toBe(0);
        expect(layer.variables().length > 0).toBe(compressor.trainable);
      } finally {
        layer.dispose();
      }
    });

    it('returns [batch, n / rate, modelDim] float32 and int32 positions in temporal order within the block span', () => {
      const compressor = create({ seed: 1 });
      const layer = compressor.build({ modelDim, layer: 0 });
      try {
        for (const n of [rate, length]) {
          const input = makeInput(compressor, batch, n, modelDim, 5);
          const output = layer.compress(input);
          try {
            expect(output.hidden.dtype).toBe('float32');
            expect(output.hidden.shape).toEqual([batch, n / rate, modelDim]);
            expect(output.positions.dtype).toBe('int32');
            expect(output.positions.shape).toEqual([batch, n / rate]);
            expect(Array.from(output.hidden.dataSync()).every(Number.isFinite)).toBe(true);
            const positions = output.positions.arraySync();
            positions.forEach((row, rowIndex) => {
              const first = 100 * rowIndex + 7;
              row.forEach((position, slot) => {
                expect(position).toBeGreaterThanOrEqual(first);
                expect(position).toBeLessThanOrEqual(first + n - 1);
                if (slot > 0) expect(position).toBeGreaterThanOrEqual(row[slot - 1] as number);
              });
            });
          } finally {
            output.hidden.dispose();
            output.positions.dispose();
            disposeInput(input);
          }
        }
      } finally {
        layer.dispose();
      }
    });

    it('does not dispose or change its inputs', () => {
      const compressor = create({ seed: 1 });
      const layer = compressor.build({ modelDim, layer: 0 });
      const input = makeInput(compressor, batch, length, modelDim, 6);
      const before = input.hidden.dataSync().slice();
      try {
        const output = layer.compress(input);
        output.hidden.dispose();
        output.positions.dispose();
        expect(input.hidden.isDisposed).toBe(false);
        expect(input.positions.isDisposed).toBe(false);
        expect(Array.from(input.hidden.dataSync())).toEqual(Array.from(before));
      } finally {
        disposeInput(input);
        layer.dispose();
      }
    });

    it('is deterministic for a seed', () => {
      const first = create({ seed: 11 }).build({ modelDim, layer: 0 });
      const second = create({ seed: 11 }).build({ modelDim, layer: 0 });
      const probeCompressor = create({ seed: 11 });
      const input = makeInput(probeCompressor, batch, length, modelDim, 7);
      try {
        const a = outputsOf(first, input);
        const again = outputsOf(first, input);
        const b = outputsOf(second, input);
        expect(Array.from(again.hidden)).toEqual(Array.from(a.hidden));
        expect(Array.from(b.hidden)).toEqual(Array.from(a.hidden));
        expect(Array.from(b.positions)).toEqual(Array.from(a.positions));
      } finally {
        disposeInput(input);
        first.dispose();
        second.dispose();
      }
    });

    it('gives each layer its own parameters', () => {
      const compressor = create({ seed: 3 });
      const layer0 = compressor.build({ modelDim, layer: 0 });
      const layer1 = compressor.build({ modelDim, layer: 1 });
      try {
        const variables0 = layer0.variables();
        const variables1 = layer1.variables();
        for (const variable of variables0) expect(variables1.includes(variable)).toBe(false);
        const names0 = new Set(variables0.map((variable) => variable.name));
        for (const variable of variables1) expect(names0.has(variable.name)).toBe(false);
        if (compressor.trainable) {
          // Changing one layer's weights leaves the other's alone.
          const firstVariable = variables0[0] as tf.Variable;
          const before = (variables1[0] as tf.Variable).dataSync().slice();
          const shifted = tf.tidy(() => tf.add(firstVariable, tf.scalar(1)));
          firstVariable.assign(shifted);
          shifted.dispose();
          expect(Array.from((variables1[0] as tf.Variable).dataSync())).toEqual(Array.from(before));
        }
      } finally {
        layer0.dispose();
        layer1.dispose();
      }
    });

    it(probe.trainable ? 'passes a non-zero gradient to every variable' : 'owns no variables', () => {
      const compressor = create({ seed: 4 });
      const layer = compressor.build({ modelDim, layer: 0 });
      const input = makeInput(compressor, batch, length, modelDim, 8);
      try {
        const variables = layer.variables();
        if (!compressor.trainable) {
          expect(variables).toEqual([]);
          return;
        }
        const weights = tf.tensor3d(pseudoRandom(batch * blocks * modelDim, 9), [batch, blocks, modelDim]);
        const { value, grads } = tf.variableGrads(() => {
          const output = layer.compress(input);
          return tf.sum(tf.mul(output.hidden, weights)) as tf.Scalar;
        }, variables);
        weights.dispose();
        value.dispose();
        for (const variable of variables) {
          const gradient = grads[variable.name];
          expect(gradient, `gradient of ${variable.name}`).toBeDefined();
          const values = Array.from((gradient as tf.Tensor).dataSync());
          expect(values.every(Number.isFinite), `finite gradient of ${variable.name}`).toBe(true);
          expect(values.some((entry) => entry !== 0), `non-zero gradient of ${variable.name}`).toBe(true);
        }
        disposeWeights(grads);
      } finally {
        disposeInput(input);
        layer.dispose();
      }
    });

    it('does not leak tensors (build, compress, weights I/O, dispose)', () => {
      const compressor = create({ seed: 5 });
      const input = makeInput(compressor, batch, length, modelDim, 10);
      const before = tf.memory().numTensors;
      const layer = compressor.build({ modelDim, layer: 0 });
      for (let step = 0; step < 3; step++) {
        const output = layer.compress(input);
        output.hidden.dispose();
        output.positions.dispose();
      }
      const weights = layer.getWeights();
      layer.setWeights(weights);
      disposeWeights(weights);
      layer.dispose();
      const after = tf.memory().numTensors;
      disposeInput(input);
      expect(after - before, 'tensors left behind').toBe(0);
    });

    it('round-trips its weights through named tensors', () => {
      const source = create({ seed: 21 }).build({ modelDim, layer: 0 });
      const target = create({ seed: 22 }).build({ modelDim, layer: 0 });
      const input = makeInput(source, batch, length, modelDim, 12);
      try {
        const weights = source.getWeights();
        expect(Object.keys(weights).length).toBe(source.variables().length);
        target.setWeights(weights);
        // The returned tensors are copies: changing the source does not change them.
        disposeWeights(weights);
        const a = outputsOf(source, input);
        const b = outputsOf(target, input);
        expect(Array.from(b.hidden)).toEqual(Array.from(a.hidden));
        expect(Array.from(b.positions)).toEqual(Array.from(a.positions));
        if (source.variables().length > 0) {
          expect(() => target.setWeights({})).toThrow(/setWeights/);
        }
      } finally {
        disposeInput(input);
        source.dispose();
        target.dispose();
      }
    });

    it('rejects a block whose length is not a multiple of the rate, with a clear error', () => {
      const compressor = create({ seed: 1 });
      const layer = compressor.build({ modelDim, layer: 0 });
      const badLength = rate === 1 ? 0 : rate + 1;
      const input = makeInput(compressor, batch, badLength, modelDim, 13);
      try {
        let caught: unknown;
        try {
          const output = layer.compress(input);
          output.hidden.dispose();
          output.positions.dispose();
        } catch (error) {
          caught = error;
        }
        expect(caught).toBeInstanceOf(Error);
        const message = (caught as Error).message;
        expect(message).toMatch(/rate/i);
        expect(message).toContain(String(rate));
        expect(message).toContain(String(badLength));
      } finally {
        disposeInput(input);
        layer.dispose();
      }
    });

    if (probe.needsUsage) {
      it('requires usage statistics, as it declares', () => {
        const compressor = create({ seed: 1 });
        const layer = compressor.build({ modelDim, layer: 0 });
        const input = makeInput(compressor, batch, length, modelDim, 14);
        try {
          expect(() => layer.compress({ hidden: input.hidden, positions: input.positions })).toThrow(/usage/);
        } finally {
          disposeInput(input);
          layer.dispose();
        }
      });
    }
  });
}
