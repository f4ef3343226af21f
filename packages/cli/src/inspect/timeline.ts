// Reads a text segment by segment through a trained model and records, from the policy's real memory state after every step, what each layer keeps.
import * as tf from '@tensorflow/tfjs';
import { disposeState, type MemoryState } from '@engram/memory';
import type { MemoryTransformer } from '@engram/model';
import { SlotCode, type MemoryTimeline } from './picture.js';

/** Options of {@link recordMemoryTimeline}. */
export interface RecordOptions {
  title: string;
  /** Characters to print under the picture, one per token (optional). */
  characters?: string[];
}

function positionsOf(tensor: tf.Tensor | null | undefined): number[] {
  if (tensor === null || tensor === undefined || tensor.size === 0) return [];
  return Array.from(tensor.dataSync());
}

/**
 * Which positions a compressed slot stands for. Block compressors (pooling, convolutions) summarise c
 * consecutive evicted tokens and put the slot at the floor of their mean position, so the block is
 * `[q - floor((c - 1) / 2), ... + c - 1]`; `most-used` keeps one chosen token, whose own position the slot has.
 */
export function compressedCoverage(slotPosition: number, rate: number, compressorKind: string): number[] {
  if (compressorKind === 'most-used') return [slotPosition];
  const first = slotPosition - Math.floor((rate - 1) / 2);
  return Array.from({ length: rate }, (_, offset) => first + offset);
}

/** A policy that can predict the expire-span of memories (the Expire-Span policy). */
interface SpanPredicting {
  predictSpans(layer: number, hidden: tf.Tensor3D): tf.Tensor2D;
}

function spanPredictor(model: MemoryTransformer): { policy: SpanPredicting; ramp: number } | null {
  const policy = model.policy as unknown as Partial<SpanPredicting>;
  const ramp = Number(model.policy.config().ramp);
  if (model.policy.kind !== 'expire-span' || typeof policy.predictSpans !== 'function' || !Number.isFinite(ramp)) return null;
  return { policy: policy as SpanPredicting, ramp };
}

/**
 * Status codes of every position for one layer of a state (batch row 0). With Expire-Span, a stored
 * memory whose predicted span e satisfies `e + R <= age` at the next step's first query is masked for
 * every later query (SPEC 4): it shows as expired until pruning (which drops whole segments) removes it.
 */
function layerRow(
  state: MemoryState,
  layer: number,
  tokens: number,
  compression: { rate: number; compressor: string } | null,
  spans: { policy: SpanPredicting; ramp: number } | null,
): Uint8Array {
  const row = new Uint8Array(tokens);
  const seen = Math.min(state.tokensSeen, tokens);
  row.fill(SlotCode.forgotten, 0, seen);
  const memory = state.layers[layer];
  if (memory === undefined) return row;
  if (compression !== null) {
    for (const slot of positionsOf(memory.extra.compressedPositions)) {
      for (const position of compressedCoverage(slot, compression.rate, compression.compressor)) {
        if (position >= 0 && position < tokens) row[position] = SlotCode.compressed;
      }
    }
    for (const position of positionsOf(memory.extra.bufferPositions)) {
      if (position >= 0 && position < tokens) row[position] = SlotCode.buffered;
    }
  }
  const positions = positionsOf(memory.positions);
  const slots = memory.positions?.shape[1] ?? 0;
  let predicted: Float32Array | null = null;
  if (spans !== null && memory.hidden !== null && slots > 0) {
    const values = tf.tidy(() => spans.policy.predictSpans(layer, memory.hidden as tf.Tensor3D));
    predicted = values.dataSync() as Float32Array;
    values.dispose();
  }
  positions.slice(0, slots).forEach((position, slot) => {
    if (position < 0 || position >= tokens) return;
    const span = predicted?.[slot];
    const expired = span !== undefined && spans !== null && span + spans.ramp <= state.tokensSeen - position;
    row[position] = expired ? SlotCode.expired : SlotCode.memory;
  });
  return row;
}

/**
 * A reader of memory states for `model`: given a state (batch row 0) and the number of positions to
 * show, returns one status row per layer (codes of {@link SlotCode}, `Uint8Array` of length `tokens`).
 * The same rows `engram inspect` draws, for a stream that shows memory live as it grows.
 */
export function createMemoryRowReader(model: MemoryTransformer): (state: MemoryState, tokens: number) => Uint8Array[] {
  const policyConfig = model.policy.config();
  const compression =
    model.policy.kind === 'compressive'
      ? {
          rate: Number((policyConfig.compressor as { rate?: number } | undefined)?.rate ?? 1),
          compressor: String((policyConfig.compressor as { kind?: string } | undefined)?.kind ?? ''),
        }
      : null;
  const spans = spanPredictor(model);
  return (state, tokens) => Array.from({ length: model.config.numLayers }, (_, layer) => layerRow(state, layer, tokens, compression, spans));
}

/**
 * Feeds `ids` (batch 1) through `model` one segment at a time in evaluation mode and, after each
 * step, records per layer which positions are in regular memory, in the compressor's buffer,
 * summarised by compressed slots, or forgotten. Only whole segments are read (the remainder of
 * fewer than `segmentLength` tokens is left out). The model's weights are not changed.
 */
export function recordMemoryTimeline(model: MemoryTransformer, ids: Int32Array, options: RecordOptions): MemoryTimeline {
  const segmentLength = model.config.segmentLength;
  const steps = Math.floor(ids.length / segmentLength);
  const tokens = steps * segmentLength;
  const numLayers = model.config.numLayers;
  const readRows = createMemoryRowReader(model);
  const layers: Uint8Array[][] = Array.from({ length: numLayers }, () => []);
  let state = model.initialState(1);
  try {
    for (let step = 0; step < steps; step++) {
      const segment = ids.subarray(step * segmentLength, (step + 1) * segmentLength);
      const inputs = tf.tensor2d(segment, [1, segmentLength], 'int32');
      try {
        const result = model.forward(inputs, state, { training: false });
        result.logits.dispose();
        state = result.state;
      } finally {
        inputs.dispose();
      }
      readRows(state, tokens).forEach((row, layer) => layers[layer]?.push(row));
    }
    const telemetry = model.policy.telemetry(state);
    const subtitle = [
      `${model.policy.kind} memory, ${numLayers} layers, segment ${segmentLength}, ${steps} steps over ${tokens} tokens`,
      `memory slots per layer at the end: ${telemetry.memorySlots.map((slots) => slots.toFixed(0)).join(', ')}` +
        Object.entries(telemetry.perLayer)
          .map(([name, values]) => `; ${name}: ${values.map((value) => (Number.isInteger(value) ? String(value) : value.toFixed(1))).join(', ')}`)
          .join(''),
    ];
    return {
      title: options.title,
      tokens,
      segmentLength,
      layers,
      subtitle,
      ...(options.characters === undefined ? {} : { characters: options.characters.slice(0, tokens) }),
    };
  } finally {
    disposeState(state);
  }
}
