// Argument checks shared by the fused ops: rank, dtype, integer parameters, broadcast compatibility.
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';

/** `shape [2, 3]` for error messages. */
export function describeShape(shape: readonly number[]): string {
  return `shape [${shape.join(', ')}]`;
}

/** Throws unless `value` is a live tensor of the given rank. */
export function assertTensor(operation: string, parameter: string, value: unknown, rank: number, layout: string): void {
  if (!(value instanceof tf.Tensor)) {
    throw new InvalidArgumentError({
      operation,
      parameter,
      expected: `a rank-${rank} tensor ${layout}`,
      actual: value === null ? 'null' : typeof value,
    });
  }
  if (value.isDisposed) {
    throw new InvalidArgumentError({
      operation,
      parameter,
      expected: `a live rank-${rank} tensor ${layout}`,
      actual: 'a disposed tensor',
      fix: 'Keep the tensor alive until the op has run.',
    });
  }
  if (value.rank !== rank) {
    throw new InvalidArgumentError({
      operation,
      parameter,
      expected: `a rank-${rank} tensor ${layout}`,
      actual: `a rank-${value.rank} tensor of ${describeShape(value.shape)}`,
    });
  }
}

/** Throws unless the tensor has one of the allowed dtypes. */
export function assertDtype(operation: string, parameter: string, value: tf.Tensor, dtypes: readonly tf.DataType[]): void {
  if (!dtypes.includes(value.dtype)) {
    throw new InvalidArgumentError({
      operation,
      parameter,
      expected: `of dtype ${dtypes.join(' or ')}`,
      actual: `dtype ${value.dtype}`,
      fix: dtypes.includes('int32') ? 'Create it with dtype "int32" (or tf.cast it).' : 'Cast it with tf.cast.',
    });
  }
}

/** Throws unless `value` is an integer >= `minimum`. */
export function assertInteger(operation: string, parameter: string, value: number, minimum: number): void {
  if (!Number.isInteger(value) || value < minimum) {
    throw new InvalidArgumentError({
      operation,
      parameter,
      expected: `an integer >= ${minimum}`,
      actual: String(value),
    });
  }
}

/** Throws unless `shape` broadcasts to exactly `target` (numpy rules, aligned at the last axis). */
export function assertBroadcastsTo(
  operation: string,
  parameter: string,
  shape: readonly number[],
  target: readonly number[],
  targetName: string,
): void {
  const fits =
    shape.length <= target.length &&
    shape.every((size, axis) => {
      const targetSize = target[target.length - shape.length + axis];
      return size === 1 || size === targetSize;
    });
  if (!fits) {
    throw new InvalidArgumentError({
      operation,
      parameter,
      expected: `broadcastable to ${targetName} ${describeShape(target)}`,
      actual: describeShape(shape),
      fix: 'Use size 1 on the axes to broadcast, e.g. [batch, 1, time, keys] for a mask shared by heads.',
    });
  }
}
