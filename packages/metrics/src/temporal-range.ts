// Temporal range of a memory configuration (SPEC 3): how far back, in tokens, information can travel through memory.
import { InvalidMetricInputError, describeValue } from './errors.js';

/** A memory configuration described by numbers only (no model needed). */
export type MemoryConfiguration =
  /** Transformer-XL FIFO memory of `memoryLength` slots per layer: range `L * M`. */
  | { kind: 'fifo'; numLayers: number; memoryLength: number }
  /**
   * Compressive memory: `memoryLength` regular slots (n_m), `compressedLength` compressed slots
   * (n_cm) at `compressionRate` (c) tokens per slot: range `L * (n_m + c * n_cm)`.
   */
  | { kind: 'compressive'; numLayers: number; memoryLength: number; compressedLength: number; compressionRate: number }
  /**
   * Expire-Span with maximum span `maxSpan` (Lmax) and ramp `ramp` (R): a memory is visible while
   * its age is below `e + R <= Lmax + R` (SPEC 4), so the range is `L * (Lmax + R)`.
   */
  | { kind: 'expire-span'; numLayers: number; maxSpan: number; ramp: number }
  /**
   * Adaptive-Span with maximum span `maxSpan` (S) and ramp `ramp` (R): the mask
   * `clamp((R + z - x) / R, 0, 1)` is non-zero for distances below `z + R <= S + R` (SPEC 5),
   * so the range is `L * (S + R)`.
   */
  | { kind: 'adaptive-span'; numLayers: number; maxSpan: number; ramp: number };

function requireNonNegativeInteger(kind: string, parameter: string, value: unknown, positive = false): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (positive ? 1 : 0)) {
    throw new InvalidMetricInputError({
      operation: `temporalRange(${kind})`,
      parameter,
      expected: positive ? 'an integer >= 1' : 'an integer >= 0',
      actual: describeValue(value),
    });
  }
  return value;
}

function requireNonNegativeNumber(kind: string, parameter: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidMetricInputError({
      operation: `temporalRange(${kind})`,
      parameter,
      expected: 'a finite number >= 0',
      actual: describeValue(value),
    });
  }
  return value;
}

/**
 * Temporal range in tokens: the per-layer reach times the number of layers (each layer can look
 * one memory-length further back than the layer below), as in SPEC 3. The model and every
 * `MemoryPolicy` also expose `temporalRange()` for a live configuration; this function gives
 * the same number from plain settings (for tables and planning).
 */
export function temporalRange(configuration: MemoryConfiguration): number {
  const kind = (configuration as { kind?: unknown }).kind;
  switch (configuration.kind) {
    case 'fifo': {
      const layers = requireNonNegativeInteger('fifo', 'numLayers', configuration.numLayers, true);
      return layers * requireNonNegativeInteger('fifo', 'memoryLength', configuration.memoryLength);
    }
    case 'compressive': {
      const layers = requireNonNegativeInteger('compressive', 'numLayers', configuration.numLayers, true);
      const regular = requireNonNegativeInteger('compressive', 'memoryLength', configuration.memoryLength);
      const compressed = requireNonNegativeInteger('compressive', 'compressedLength', configuration.compressedLength);
      const rate = requireNonNegativeInteger('compressive', 'compressionRate', configuration.compressionRate, true);
      return layers * (regular + rate * compressed);
    }
    case 'expire-span':
    case 'adaptive-span': {
      const layers = requireNonNegativeInteger(configuration.kind, 'numLayers', configuration.numLayers, true);
      const span = requireNonNegativeNumber(configuration.kind, 'maxSpan', configuration.maxSpan);
      const ramp = requireNonNegativeNumber(configuration.kind, 'ramp', configuration.ramp);
      return layers * (span + ramp);
    }
    default:
      throw new InvalidMetricInputError({
        operation: 'temporalRange',
        parameter: 'configuration.kind',
        expected: "one of 'fifo', 'compressive', 'expire-span', 'adaptive-span'",
        actual: describeValue(kind),
        fix: 'For a custom memory policy, call its temporalRange(numLayers) instead.',
      });
  }
}
