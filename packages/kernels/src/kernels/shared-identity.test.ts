// The fast Identity shares the input's buffer on wasm: clones see the same values, outlive their source, and leak nothing.
import * as tf from '@tensorflow/tfjs';
import { expect, test } from 'vitest';
import { expectNoLeak } from '../testing/index.js';
import { registerFastKernels, unregisterFastKernels } from './fast-kernels.js';

test('tf.clone shares the buffer (no copy), survives disposing its source, and customGrad training still matches', () => {
  if (tf.getBackend() !== 'wasm') return;
  registerFastKernels();
  try {
    const backend = tf.backend() as unknown as { dataIdMap: { get(id: tf.DataId): { memoryOffset: number } } };
    const source = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const copy = tf.clone(source);
    expect(backend.dataIdMap.get(copy.dataId).memoryOffset).toBe(backend.dataIdMap.get(source.dataId).memoryOffset);
    source.dispose();
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    copy.dispose();
    const ints = tf.tensor1d([7, 8], 'int32');
    expect(Array.from(tf.clone(ints).dataSync())).toEqual([7, 8]);
    // A variable updated after being cloned keeps the clone unchanged (assign swaps buffers, never writes in place).
    const variable = tf.variable(tf.tensor1d([1, 2]));
    const snapshot = tf.clone(variable);
    variable.assign(tf.tensor1d([5, 6]));
    expect(Array.from(snapshot.dataSync())).toEqual([1, 2]);
    expectNoLeak(() => tf.clone(ints).dispose());
    tf.dispose([ints, variable, snapshot]);
  } finally {
    unregisterFastKernels();
  }
});
