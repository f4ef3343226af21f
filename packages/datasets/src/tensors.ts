// The tensor edge of @engram/datasets: turns plain [B, T] batches into TensorFlow.js tensors (the caller disposes them).
import * as tf from '@tensorflow/tfjs';
import type { TokenBatch } from './batching/stream-batcher.js';

/** Tensors of one batch. Dispose with {@link disposeBatchTensors} (or `tf.dispose`). */
export interface BatchTensors {
  /** int32 `[B, T]`. */
  inputs: tf.Tensor2D;
  /** int32 `[B, T]`. */
  targets: tf.Tensor2D;
  /** float32 `[B, T]` (1 = counts), or null when every position counts. */
  mask: tf.Tensor2D | null;
}

/** Any batch with row-major `[B, T]` arrays (a language-model batch or a task batch). */
export type BatchArrays = Pick<TokenBatch, 'inputs' | 'targets' | 'mask' | 'shape'>;

/** Copies a batch into new tensors: inputs and targets int32 `[B, T]`, mask float32 `[B, T]` or null. The caller owns and disposes them. */
export function batchToTensors(batch: BatchArrays): BatchTensors {
  const shape: [number, number] = [batch.shape[0], batch.shape[1]];
  return {
    inputs: tf.tensor2d(batch.inputs, shape, 'int32'),
    targets: tf.tensor2d(batch.targets, shape, 'int32'),
    mask: batch.mask === null ? null : tf.tensor2d(batch.mask, shape, 'float32'),
  };
}

/** Disposes the tensors made by {@link batchToTensors}. */
export function disposeBatchTensors(tensors: BatchTensors): void {
  tensors.inputs.dispose();
  tensors.targets.dispose();
  tensors.mask?.dispose();
}
