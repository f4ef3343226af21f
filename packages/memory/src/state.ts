// Memory state helpers shared by every policy: ownership (keep/dispose), FIFO append (SPEC 2.1), serialization.
import * as tf from '@tensorflow/tfjs';
import { MemorySerializationError, MemoryStateError } from './errors.js';
import type { LayerMemory, MemoryState, SerializedMemoryState } from './policy.js';

/** An empty layer memory: no hidden states, no positions, no extra tensors. */
export function emptyLayerMemory(): LayerMemory {
  return { hidden: null, positions: null, extra: {} };
}

/** Every tensor a state holds (hidden, positions and extra tensors of every layer), without duplicates. */
export function stateTensors(state: MemoryState): tf.Tensor[] {
  const seen = new Set<tf.Tensor>();
  for (const layer of state.layers) {
    if (layer.hidden) seen.add(layer.hidden);
    if (layer.positions) seen.add(layer.positions);
    for (const tensor of Object.values(layer.extra)) seen.add(tensor);
  }
  return [...seen];
}

/** `tf.keep`s every tensor of `state` so it survives the enclosing tidy or gradient scope; returns `state`. */
export function keepState<S extends MemoryState>(state: S): S {
  for (const tensor of stateTensors(state)) {
    if (!tensor.isDisposed) tf.keep(tensor);
  }
  return state;
}

/** Disposes every tensor of `state`. */
export function disposeState(state: MemoryState): void {
  for (const tensor of stateTensors(state)) {
    if (!tensor.isDisposed) tensor.dispose();
  }
}

/**
 * Disposes the tensors of `previous` that `next` does not hold (the step after `write`:
 * a policy may carry tensors over unchanged, those must survive).
 */
export function disposeStateExcept(previous: MemoryState, next: MemoryState): void {
  const held = new Set(stateTensors(next));
  for (const tensor of stateTensors(previous)) {
    if (!held.has(tensor) && !tensor.isDisposed) tensor.dispose();
  }
}

/** Result of {@link appendToMemory}. */
export interface AppendResult {
  /** The kept slots `[batch, min(keepLast, total), dim]`, or null when nothing is kept. */
  hidden: tf.Tensor3D | null;
  /** int32 `[batch, kept]`, or null when nothing is kept. */
  positions: tf.Tensor2D | null;
  /** The oldest slots that fell out (`[batch, total - keepLast, dim]` and `[batch, total - keepLast]`), or null. */
  evicted: { hidden: tf.Tensor3D; positions: tf.Tensor2D } | null;
}

/**
 * The smallest of host-side positions (for a view's `oldestPosition`), or null when there are none.
 * @param data positions read from an int32 `[batch, slots]` tensor, row-major
 */
export function smallestPosition(data: ArrayLike<number>): number | null {
  if (data.length === 0) return null;
  let least = data[0] as number;
  for (let index = 1; index < data.length; index++) if ((data[index] as number) < least) least = data[index] as number;
  return least;
}

/**
 * FIFO append: `concat(memory, new)` along the slot axis, then keep the last `keepLast` slots
 * (SPEC 2.1, Transformer-XL). The building block of every policy that keeps a regular memory.
 *
 * @param hidden current memory `[batch, slots, dim]` or null when empty
 * @param positions int32 `[batch, slots]` or null when empty
 * @param newHidden new entries `[batch, n, dim]` (usually the detached layer input of the segment)
 * @param newPositions int32 `[batch, n]`
 * @param keepLast how many of the newest slots to keep (0 keeps nothing)
 * @returns new tensors only (never one of the arguments), owned by the caller
 */
export function appendToMemory(
  hidden: tf.Tensor3D | null,
  positions: tf.Tensor2D | null,
  newHidden: tf.Tensor3D,
  newPositions: tf.Tensor2D,
  keepLast: number,
): AppendResult {
  if (!Number.isInteger(keepLast) || keepLast < 0) {
    throw new MemoryStateError(
      `appendToMemory: keepLast must be an integer >= 0, got ${keepLast}. Pass the memory length in slots.`,
    );
  }
  if ((hidden === null) !== (positions === null)) {
    throw new MemoryStateError(
      `appendToMemory: hidden and positions must both be null or both be tensors, got hidden=${hidden === null ? 'null' : 'tensor'}, positions=${positions === null ? 'null' : 'tensor'}.`,
    );
  }
  checkPair('appendToMemory new entries', newHidden, newPositions);
  if (hidden && positions) {
    checkPair('appendToMemory memory', hidden, positions);
    if (hidden.shape[0] !== newHidden.shape[0] || hidden.shape[2] !== newHidden.shape[2]) {
      throw new MemoryStateError(
        `appendToMemory: memory is [${hidden.shape.join(', ')}] but new entries are [${newHidden.shape.join(', ')}]; batch and width must agree.`,
      );
    }
  }
  const oldSlots = hidden ? hidden.shape[1] : 0;
  const total = oldSlots + newHidden.shape[1];
  const kept = Math.min(keepLast, total);
  const dropped = total - kept;
  const [keptHidden, keptPositions, evictedHidden, evictedPositions] = tf.tidy(() => {
    const allHidden: tf.Tensor3D = hidden ? tf.concat([hidden, newHidden], 1) : newHidden;
    const allPositions: tf.Tensor2D = positions ? tf.concat([positions, newPositions], 1) : newPositions;
    const out: tf.Tensor[] = [];
    if (kept > 0) {
      out.push(tf.slice(allHidden, [0, dropped, 0], [-1, kept, -1]), tf.slice(allPositions, [0, dropped], [-1, kept]));
    } else {
      out.push(tf.zeros([0]), tf.zeros([0]));
    }
    if (dropped > 0) {
      out.push(tf.slice(allHidden, [0, 0, 0], [-1, dropped, -1]), tf.slice(allPositions, [0, 0], [-1, dropped]));
    } else {
      out.push(tf.zeros([0]), tf.zeros([0]));
    }
    return out;
  }) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  let resultHidden: tf.Tensor3D | null = null;
  let resultPositions: tf.Tensor2D | null = null;
  if (kept > 0) {
    resultHidden = keptHidden as tf.Tensor3D;
    resultPositions = keptPositions as tf.Tensor2D;
  } else {
    keptHidden.dispose();
    keptPositions.dispose();
  }
  let evicted: AppendResult['evicted'] = null;
  if (dropped > 0) {
    evicted = { hidden: evictedHidden as tf.Tensor3D, positions: evictedPositions as tf.Tensor2D };
  } else {
    evictedHidden.dispose();
    evictedPositions.dispose();
  }
  return { hidden: resultHidden, positions: resultPositions, evicted };
}

function checkPair(what: string, hidden: tf.Tensor, positions: tf.Tensor): void {
  if (hidden.rank !== 3) {
    throw new MemoryStateError(`${what}: hidden must be [batch, slots, dim], got shape [${hidden.shape.join(', ')}].`);
  }
  if (positions.rank !== 2 || positions.dtype !== 'int32') {
    throw new MemoryStateError(
      `${what}: positions must be int32 [batch, slots], got ${positions.dtype} [${positions.shape.join(', ')}].`,
    );
  }
  if (positions.shape[0] !== hidden.shape[0] || positions.shape[1] !== hidden.shape[1]) {
    throw new MemoryStateError(
      `${what}: positions [${positions.shape.join(', ')}] do not match hidden [${hidden.shape.join(', ')}]; expected [${hidden.shape[0]}, ${hidden.shape[1]}].`,
    );
  }
}

/**
 * The common part of saving a state: every layer's hidden, positions and extra tensors under
 * `layer{l}.hidden`, `layer{l}.positions`, `layer{l}.extra.{name}`, plus `tokensSeen`,
 * `batchSize` and `numLayers` in `meta` (merged with `meta` given here, e.g. the policy kind).
 * The returned tensors are clones owned by the caller (dispose them after writing).
 */
export function serializeLayers(state: MemoryState, meta: Record<string, unknown> = {}): SerializedMemoryState {
  const tensors: Record<string, tf.Tensor> = {};
  state.layers.forEach((layer, index) => {
    if (layer.hidden) tensors[`layer${index}.hidden`] = tf.clone(layer.hidden);
    if (layer.positions) tensors[`layer${index}.positions`] = tf.clone(layer.positions);
    for (const [name, tensor] of Object.entries(layer.extra)) {
      tensors[`layer${index}.extra.${name}`] = tf.clone(tensor);
    }
  });
  return {
    tensors,
    meta: { ...meta, tokensSeen: state.tokensSeen, batchSize: state.batchSize, numLayers: state.layers.length },
  };
}

/** What {@link deserializeLayers} checks besides the tensors themselves. */
export interface DeserializeOptions {
  /** Expected `meta.kind` (the policy kind), checked when given. */
  kind?: string;
  /** Expected number of layers, checked when given. */
  numLayers?: number;
}

/**
 * Rebuilds a state from {@link serializeLayers} output. The state owns clones of the given
 * tensors (the caller still owns and disposes `serialized.tensors`).
 */
export function deserializeLayers(serialized: SerializedMemoryState, options: DeserializeOptions = {}): MemoryState {
  const { meta, tensors } = serialized;
  if (options.kind !== undefined && meta.kind !== options.kind) {
    throw new MemorySerializationError(
      `deserializeState: the saved state is of kind ${JSON.stringify(meta.kind)}, expected ${JSON.stringify(options.kind)}. Restore it with the policy that saved it.`,
    );
  }
  const tokensSeen = meta.tokensSeen;
  const batchSize = meta.batchSize;
  const numLayers = meta.numLayers;
  for (const [name, value] of [
    ['tokensSeen', tokensSeen],
    ['batchSize', batchSize],
    ['numLayers', numLayers],
  ] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new MemorySerializationError(
        `deserializeState: meta.${name} must be an integer >= 0, got ${JSON.stringify(value)}. The saved state is incomplete or corrupt.`,
      );
    }
  }
  if (options.numLayers !== undefined && numLayers !== options.numLayers) {
    throw new MemorySerializationError(
      `deserializeState: the saved state has ${numLayers} layers, the policy was built for ${options.numLayers}. Restore it into a model of the same depth.`,
    );
  }
  const layerCount = numLayers as number;
  const known = new Set<string>();
  const layers: LayerMemory[] = [];
  for (let index = 0; index < layerCount; index++) {
    const hidden = tensors[`layer${index}.hidden`];
    const positions = tensors[`layer${index}.positions`];
    if ((hidden === undefined) !== (positions === undefined)) {
      throw new MemorySerializationError(
        `deserializeState: layer ${index} has ${hidden ? 'hidden states but no positions' : 'positions but no hidden states'}; both "layer${index}.hidden" and "layer${index}.positions" are required together.`,
      );
    }
    if (hidden && positions) {
      checkPair(`deserializeState layer ${index}`, hidden, positions);
      if (hidden.shape[0] !== batchSize) {
        throw new MemorySerializationError(
          `deserializeState: layer ${index} hidden has batch ${hidden.shape[0]}, meta.batchSize is ${batchSize}.`,
        );
      }
      known.add(`layer${index}.hidden`).add(`layer${index}.positions`);
    }
    const extra: Record<string, tf.Tensor> = {};
    const prefix = `layer${index}.extra.`;
    for (const [name, tensor] of Object.entries(tensors)) {
      if (name.startsWith(prefix)) {
        extra[name.slice(prefix.length)] = tf.clone(tensor);
        known.add(name);
      }
    }
    layers.push({
      hidden: hidden ? (tf.clone(hidden) as tf.Tensor3D) : null,
      positions: positions ? (tf.clone(positions) as tf.Tensor2D) : null,
      extra,
    });
  }
  const unknown = Object.keys(tensors).filter((name) => !known.has(name));
  if (unknown.length > 0) {
    for (const layer of layers) disposeState({ layers: [layer], tokensSeen: 0, batchSize: 0 });
    throw new MemorySerializationError(
      `deserializeState: unexpected tensors ${unknown.map((name) => JSON.stringify(name)).join(', ')} for a state of ${layerCount} layers.`,
    );
  }
  return { layers, tokensSeen: tokensSeen as number, batchSize: batchSize as number };
}
