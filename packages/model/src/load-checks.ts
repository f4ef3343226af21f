// Checks at load time: weights holding NaN or Infinity are refused naming the file and the tensor; policy options that differ from the saved ones are listed field by field.
import type * as tf from '@tensorflow/tfjs';
import { WeightsError } from './errors.js';

/**
 * Throws a {@link WeightsError} naming `file`, the tensor, how many values are not finite and the first
 * position when any floating-point tensor holds NaN or ±Infinity (a diverged run saved its weights, or the
 * file was damaged in a way its format cannot notice).
 * @param tensors stable name -> tensor, as read from `file` (not disposed here)
 * @param file the file the tensors came from, for the message
 */
export function validateLoadedWeights(tensors: Readonly<Record<string, tf.Tensor>>, file: string): void {
  for (const name of Object.keys(tensors).sort()) {
    const tensor = tensors[name] as tf.Tensor;
    if (tensor.dtype !== 'float32') continue;
    const values = tensor.dataSync() as Float32Array;
    let bad = 0;
    let first = -1;
    for (let index = 0; index < values.length; index++) {
      if (!Number.isFinite(values[index] as number)) {
        if (first < 0) first = index;
        bad += 1;
      }
    }
    if (bad > 0) {
      throw new WeightsError(
        `loadModel: "${name}" in "${file}" holds ${bad} non-finite value${bad === 1 ? '' : 's'} (${values[first]} at flat index ${first} of [${tensor.shape.join(', ')}]): ` +
          'the weights were saved after training diverged or the file is damaged; load an earlier checkpoint or retrain.',
      );
    }
  }
}

/** JSON-normal form of a config value: nulls and undefined fields dropped, as a saved config.json holds it. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, field]) => field !== null && field !== undefined)
        .map(([key, field]) => [key, normalise(field)]),
    );
  }
  return value;
}

/**
 * The fields where a policy's options differ from those saved with the model, e.g.
 * `memoryLength: saved 16, given 8` (nested fields dotted: `compressor.rate`). Empty when they agree.
 * @param saved `policy.config` of config.json
 * @param given `policy.config()` of the policy passed to loadModel
 */
export function policyConfigDifferences(saved: Record<string, unknown>, given: Record<string, unknown>): string[] {
  const differences: string[] = [];
  const walk = (left: unknown, right: unknown, path: string): void => {
    const bothObjects =
      typeof left === 'object' && left !== null && !Array.isArray(left) && typeof right === 'object' && right !== null && !Array.isArray(right);
    if (bothObjects) {
      const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])].sort();
      for (const key of keys) walk((left as Record<string, unknown>)[key], (right as Record<string, unknown>)[key], path === '' ? key : `${path}.${key}`);
      return;
    }
    const a = JSON.stringify(left);
    const b = JSON.stringify(right);
    if (a !== b) differences.push(`${path}: saved ${a ?? 'nothing'}, given ${b ?? 'nothing'}`);
  };
  walk(normalise(saved), normalise(given), '');
  return differences;
}
