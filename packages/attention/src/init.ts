// Seeded, backend-independent parameter initialisation (normal draws from a counter-free PRNG keyed by variable name).
import * as tf from '@tensorflow/tfjs';

/** 32-bit FNV-1a hash of a string, mixed with a seed. */
export function hashSeed(seed: number, key: string): number {
  let hash = (0x811c9dc5 ^ (seed >>> 0) ^ Math.floor(seed / 2 ** 32)) >>> 0;
  for (let index = 0; index < key.length; index++) {
    hash ^= key.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** A small deterministic generator of uniform numbers in [0, 1) (mulberry32). */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Values drawn from a normal distribution N(0, standardDeviation^2), deterministic for a given
 * (seed, key): the key is usually the variable's stable name, so adding a variable never changes
 * the values of the others. Pure JavaScript, so every backend gets the same numbers.
 */
export function seededNormal(shape: readonly number[], standardDeviation: number, seed: number, key: string): tf.Tensor {
  const size = shape.reduce((product, length) => product * length, 1);
  const values = new Float32Array(size);
  const random = createRandom(hashSeed(seed, key));
  for (let index = 0; index < size; index += 2) {
    // Box-Muller: two independent normals from two uniforms.
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    values[index] = radius * Math.cos(angle) * standardDeviation;
    if (index + 1 < size) values[index + 1] = radius * Math.sin(angle) * standardDeviation;
  }
  return tf.tensor(values, [...shape], 'float32');
}

let scopeCounter = 0;

/**
 * A process-unique prefix for TensorFlow.js variable names (tfjs refuses two variables with the
 * same name). Variables are named `<scope>/<stableName>`; {@link stableVariableName} strips the scope.
 */
export function uniqueScope(base: string): string {
  scopeCounter += 1;
  return `${base}${scopeCounter}`;
}

/** The stable part of a variable name: everything after the last `/` (the whole name when there is none). */
export function stableVariableName(variable: tf.Variable | string): string {
  const name = typeof variable === 'string' ? variable : variable.name;
  const slash = name.lastIndexOf('/');
  return slash < 0 ? name : name.slice(slash + 1);
}
