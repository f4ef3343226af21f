// Test helpers shared by every Engram package: tolerance comparison, finite-difference gradient checks, tensor-leak guard.
import * as tf from '@tensorflow/tfjs';
import { GradientMismatchError, InvalidArgumentError, NumericMismatchError, TensorLeakError } from '../errors.js';

/** Nested plain arrays of numbers, e.g. `[[1, 2], [3, 4]]`. */
export type NestedNumbers = number | boolean | readonly NestedNumbers[];

/** Anything `expectClose` can compare: a tensor, a number, nested arrays, or a flat typed array (shape `[length]`). */
export type Comparable = tf.Tensor | NestedNumbers | Float32Array | Float64Array | Int32Array | Uint8Array;

/** Tolerances for `expectClose`: an element passes when `|actual - expected| <= atol + rtol * |expected|`. */
export interface CloseOptions {
  /** Absolute tolerance (default 1e-5). */
  atol?: number;
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  /** Context printed at the start of the error message. */
  message?: string;
}

interface Flat {
  values: ArrayLike<number>;
  shape: number[];
}

function flattenNested(value: NestedNumbers, label: string): Flat {
  if (typeof value === 'number' || typeof value === 'boolean') {
    return { values: [Number(value)], shape: [] };
  }
  const shape: number[] = [];
  let probe: NestedNumbers = value;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0] as NestedNumbers;
  }
  const values: number[] = [];
  const walk = (node: NestedNumbers, depth: number, path: number[]): void => {
    if (depth === shape.length) {
      if (typeof node !== 'number' && typeof node !== 'boolean') {
        throw new NumericMismatchError(
          `expectClose: ${label} is a ragged nested array: expected a number at [${path.join(', ')}], found an array`,
        );
      }
      values.push(Number(node));
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new NumericMismatchError(
        `expectClose: ${label} is a ragged nested array: expected ${shape[depth]} entries at [${path.join(', ')}], ` +
          `found ${Array.isArray(node) ? `${node.length} entries` : 'a number'}`,
      );
    }
    node.forEach((child: NestedNumbers, index: number) => walk(child, depth + 1, [...path, index]));
  };
  walk(value, 0, []);
  return { values, shape };
}

function flatten(value: Comparable, label: string): Flat {
  if (value instanceof tf.Tensor) {
    if (value.isDisposed) {
      throw new NumericMismatchError(`expectClose: ${label} is a disposed tensor`);
    }
    if (value.dtype === 'string' || value.dtype === 'complex64') {
      throw new NumericMismatchError(`expectClose: ${label} has dtype ${value.dtype}; only numeric tensors compare`);
    }
    return { values: value.dataSync() as ArrayLike<number>, shape: [...value.shape] };
  }
  if (ArrayBuffer.isView(value)) {
    return { values: value, shape: [value.length] };
  }
  return flattenNested(value, label);
}

function unravel(flatIndex: number, shape: readonly number[]): number[] {
  const index: number[] = new Array<number>(shape.length).fill(0);
  let rest = flatIndex;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const size = shape[axis] ?? 1;
    index[axis] = rest % size;
    rest = Math.floor(rest / size);
  }
  return index;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, axis) => size === b[axis]);
}

/**
 * Throws a `NumericMismatchError` unless `actual` and `expected` have the same shape and every element satisfies
 * `|actual - expected| <= atol + rtol * |expected|` (NaN only matches NaN, infinities only match themselves).
 * The message names the number of mismatches and the worst element (its index, both values and the tolerance).
 * Reading a tensor does not dispose it.
 */
export function expectClose(actual: Comparable, expected: Comparable, options: CloseOptions = {}): void {
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-5;
  const prefix = options.message === undefined ? 'expectClose' : `expectClose (${options.message})`;
  const a = flatten(actual, 'actual');
  const e = flatten(expected, 'expected');
  if (!sameShape(a.shape, e.shape)) {
    throw new NumericMismatchError(
      `${prefix}: shape mismatch: actual has shape [${a.shape.join(', ')}], expected has shape [${e.shape.join(', ')}]`,
    );
  }
  let mismatches = 0;
  let worst = -1;
  let worstExcess = -Infinity;
  for (let i = 0; i < e.values.length; i++) {
    const x = a.values[i] as number;
    const y = e.values[i] as number;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) continue;
    const difference = Math.abs(x - y);
    const tolerance = atol + rtol * Math.abs(y);
    if (difference <= tolerance) continue;
    mismatches++;
    const excess = Number.isNaN(difference) ? Infinity : difference - tolerance;
    if (worst < 0 || excess > worstExcess) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (mismatches === 0) return;
  const x = a.values[worst] as number;
  const y = e.values[worst] as number;
  throw new NumericMismatchError(
    `${prefix}: ${mismatches} of ${e.values.length} elements differ beyond atol=${atol}, rtol=${rtol}; ` +
      `worst at [${unravel(worst, e.shape).join(', ')}]: actual ${x}, expected ${y} ` +
      `(|difference| ${Math.abs(x - y)} > tolerance ${atol + rtol * Math.abs(y)}); shape [${e.shape.join(', ')}]`,
  );
}

/** Step size and tolerances for `checkGradients`. */
export interface GradientCheckOptions {
  /** Central-difference half step (default 1e-3; float32 arithmetic, so keep it within 1e-3 .. 1e-2). */
  epsilon?: number;
  /** Absolute tolerance between analytic and numeric gradient (default 1e-2). */
  atol?: number;
  /** Relative tolerance, relative to the numeric gradient (default 1e-2). */
  rtol?: number;
}

/**
 * Compares `tf.grads(f)` with central finite differences `(f(x + h e_k) - f(x - h e_k)) / 2h`, element by element,
 * for every float32 input. Throws a `GradientMismatchError` naming the input index, the element (flat and
 * multi-dimensional index), the analytic and the numeric value. Costs 2 evaluations of `f` per input element:
 * use tiny inputs. Disposes every tensor it creates; the inputs are left untouched.
 * @param f scalar function of the inputs (returns a rank-0 tensor)
 */
export function checkGradients(
  f: (...inputs: tf.Tensor[]) => tf.Scalar,
  inputs: tf.Tensor[],
  options: GradientCheckOptions = {},
): void {
  const epsilon = options.epsilon ?? 1e-3;
  const atol = options.atol ?? 1e-2;
  const rtol = options.rtol ?? 1e-2;
  if (inputs.length === 0) {
    throw new InvalidArgumentError({
      operation: 'checkGradients',
      parameter: 'inputs',
      expected: 'a non-empty array of float32 tensors',
      actual: 'an empty array',
    });
  }
  inputs.forEach((input, index) => {
    if (input.dtype !== 'float32') {
      throw new InvalidArgumentError({
        operation: 'checkGradients',
        parameter: `inputs[${index}]`,
        expected: 'a float32 tensor',
        actual: `dtype ${input.dtype}`,
        fix: 'Close over integer or boolean tensors inside f instead of passing them as inputs.',
      });
    }
  });
  const evaluate = (values: readonly Float32Array[]): number =>
    tf.tidy(() => {
      const args = values.map((data, index) => tf.tensor(data, (inputs[index] as tf.Tensor).shape, 'float32'));
      const output = f(...args);
      if (output.rank !== 0) {
        throw new InvalidArgumentError({
          operation: 'checkGradients',
          parameter: 'f',
          expected: 'a function returning a scalar (rank-0 tensor)',
          actual: `an output of shape [${output.shape.join(', ')}]`,
          fix: 'Reduce the output, e.g. with tf.sum or a weighted sum.',
        });
      }
      return output.dataSync()[0] as number;
    });
  const base = inputs.map((input) => Float32Array.from(input.dataSync() as ArrayLike<number>));
  evaluate(base);
  const analytic = tf.tidy(() => tf.grads(f)(inputs).map((gradient) => gradient.dataSync().slice()));

  for (let inputIndex = 0; inputIndex < inputs.length; inputIndex++) {
    const values = base.map((data) => data.slice());
    const data = values[inputIndex] as Float32Array;
    const gradient = analytic[inputIndex] as ArrayLike<number>;
    const shape = (inputs[inputIndex] as tf.Tensor).shape;
    for (let element = 0; element < data.length; element++) {
      const original = base[inputIndex]?.[element] as number;
      const plus = Math.fround(original + epsilon);
      const minus = Math.fround(original - epsilon);
      data[element] = plus;
      const high = evaluate(values);
      data[element] = minus;
      const low = evaluate(values);
      data[element] = original;
      const numeric = (high - low) / (plus - minus);
      const computed = gradient[element] as number;
      const tolerance = atol + rtol * Math.abs(numeric);
      if (!(Math.abs(computed - numeric) <= tolerance)) {
        throw new GradientMismatchError(
          `checkGradients: gradient of input ${inputIndex} (shape [${shape.join(', ')}]) at element ${element} ` +
            `[${unravel(element, shape).join(', ')}]: analytic ${computed}, finite difference ${numeric} ` +
            `(|difference| ${Math.abs(computed - numeric)} > tolerance ${tolerance}; epsilon ${epsilon}, ` +
            `atol ${atol}, rtol ${rtol})`,
          inputIndex,
          element,
        );
      }
    }
  }
}

/** Options of `expectNoLeak`. */
export interface LeakOptions {
  /** How many more live tensors are tolerated after `fn` (default 0; e.g. 1 when `fn` keeps a result on purpose). */
  allowed?: number;
}

function leakCheck(before: tf.MemoryInfo, allowed: number): void {
  const after = tf.memory();
  const leaked = after.numTensors - before.numTensors;
  if (leaked > allowed) {
    throw new TensorLeakError(
      `expectNoLeak: ${leaked} tensor(s) leaked (${before.numTensors} live before, ${after.numTensors} after, ` +
        `${allowed} allowed; ${after.numBytes - before.numBytes} bytes). Wrap the work in tf.tidy or dispose ` +
        'intermediate tensors.',
      leaked,
    );
  }
}

/**
 * Runs `fn` and throws a `TensorLeakError` when `tf.memory().numTensors` grew by more than `allowed`.
 * Synchronous for a synchronous `fn`; returns a promise (await it) when `fn` returns one.
 * An error thrown by `fn` propagates unchanged (the leak check is skipped then).
 */
export function expectNoLeak(fn: () => Promise<void>, options?: LeakOptions): Promise<void>;
export function expectNoLeak(fn: () => void, options?: LeakOptions): void;
export function expectNoLeak(fn: () => void | Promise<void>, options: LeakOptions = {}): void | Promise<void> {
  const allowed = options.allowed ?? 0;
  const before = tf.memory();
  const result = fn();
  if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
    return (result as Promise<void>).then(() => leakCheck(before, allowed));
  }
  leakCheck(before, allowed);
}
