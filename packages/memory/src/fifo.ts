// The FIFO memory policy of Transformer-XL (SPEC 2.1): every layer keeps the last M of its layer inputs.
import { z } from 'zod';
import { defineMemoryPolicy } from './define.js';
import { defineMemoryPolicyDescriptor, withoutNulls } from './descriptor.js';
import { MemoryPolicyError } from './errors.js';
import type { MemoryPolicy } from './policy.js';

/** Options of {@link createFifoPolicy}. */
export interface FifoPolicyOptions {
  /** Memory slots per layer kept during training (M). 0 means no memory (a vanilla transformer). */
  memoryLength: number;
  /** Memory slots per layer kept in evaluation (`record.training === false`); defaults to `memoryLength`. */
  evalMemoryLength?: number;
}

/** The FIFO policy's kind. */
const FIFO_KIND = 'fifo';

/**
 * Transformer-XL memory: after each segment, `m^l <- last M of concat(m^l, h^l)` for every
 * layer (M = `memoryLength` when training, `evalMemoryLength` in evaluation). Memory positions
 * are always the `M` positions just before the current segment, so attention uses the
 * rel-shift path. No variables, no auxiliary loss.
 */
export function createFifoPolicy(options: FifoPolicyOptions): MemoryPolicy {
  const memoryLength = checkLength('memoryLength', options?.memoryLength);
  const evalMemoryLength =
    options?.evalMemoryLength === undefined ? memoryLength : checkLength('evalMemoryLength', options.evalMemoryLength);
  return defineMemoryPolicy({
    kind: FIFO_KIND,
    factory: 'createFifoPolicy',
    config: () => ({ memoryLength, evalMemoryLength }),
    temporalRange: (numLayers) => fifoTemporalRange({ memoryLength }, numLayers),
    memoryLength: (record) => (record.training ? memoryLength : evalMemoryLength),
  });
}

/**
 * Temporal range of a FIFO memory of `memoryLength` slots per layer: `numLayers * M` tokens (SPEC 3), the one
 * formula the policy, its descriptor and the metrics use.
 */
function fifoTemporalRange(options: { memoryLength: number }, numLayers: number): number {
  return numLayers * options.memoryLength;
}

function checkLength(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new MemoryPolicyError(
      `createFifoPolicy: ${name} must be an integer >= 0 (memory slots per layer), got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

/** The options of a FIFO memory as a configuration file gives them. */
const fifoOptionsSchema = z.strictObject({
  /** Memory slots per layer during training (M). */
  memoryLength: z.number().int().nonnegative(),
  /** Memory length in evaluation (papers evaluate with longer memory); defaults to memoryLength. */
  evalMemoryLength: z.number().int().nonnegative().optional(),
});

/** The FIFO policy's descriptor: what the CLI, metrics and bench read about kind `fifo`. */
export const fifoPolicyDescriptor = defineMemoryPolicyDescriptor({
  kind: FIFO_KIND,
  description: 'Transformer-XL: every layer keeps the last M of its layer inputs (SPEC 2.1)',
  defaults: {},
  optionsSchema: fifoOptionsSchema,
  create: (options: z.output<typeof fifoOptionsSchema>) =>
    createFifoPolicy({
      memoryLength: options.memoryLength,
      ...(options.evalMemoryLength === undefined ? {} : { evalMemoryLength: options.evalMemoryLength }),
    }),
  fromSavedConfig: (saved) => createFifoPolicy(withoutNulls(saved) as unknown as FifoPolicyOptions),
  temporalRange: fifoTemporalRange,
});
