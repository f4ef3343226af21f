// Compressor descriptors: a compressor kind as a configuration file names it (options schema, create, fromSavedConfig).
import type { z } from 'zod';
import type { Compressor } from './compressor.js';
import { InvalidCompressionOptionError } from './errors.js';

/** What {@link CompressorDescriptor.create} receives besides the options: what the compressive memory decides. */
export interface CompressorCreateContext {
  /** Compression rate c of the compressive memory (`compressionRate`); the compressor must use it. */
  rate: number;
  /** The model's seed, for a seeded initialisation (a compressor may ignore it). */
  seed?: number;
}

/**
 * Everything about one compressor kind, the counterpart of `MemoryPolicyDescriptor` for compression functions:
 * what a user module exports so that `engram train` can name the compressor in a configuration file
 * (`compressor: { module, export, options }`) and rebuild it from a saved model.
 */
export interface CompressorDescriptor<Schema extends z.ZodType = z.ZodType> {
  /** The compressor kind (`compressor.kind`, `config().kind`). */
  readonly kind: string;
  /** One line for listings. */
  readonly description: string;
  /** The options as a configuration file gives them (defaults filled in). */
  readonly optionsSchema: Schema;
  /** A compressor from validated options at the memory's rate. */
  create(options: z.output<Schema>, context: CompressorCreateContext): Compressor;
  /** A compressor from what its `config()` returned when the model was saved. */
  fromSavedConfig(saved: Readonly<Record<string, unknown>>): Compressor;
}

/** Checks and freezes a compressor descriptor (a non-empty kind, an options schema, the two factories). */
export function defineCompressorDescriptor<Schema extends z.ZodType>(
  descriptor: CompressorDescriptor<Schema>,
): CompressorDescriptor<Schema> {
  const problem = compressorDescriptorProblem(descriptor);
  if (problem !== null) {
    throw new InvalidCompressionOptionError({
      factory: 'defineCompressorDescriptor',
      option: problem.member,
      expected: problem.expected,
      actual: problem.actual,
    });
  }
  return Object.freeze({ ...descriptor });
}

/**
 * What keeps `value` from being a {@link CompressorDescriptor} (the first missing or mistyped member), or null.
 * Used by defineCompressorDescriptor and by loaders of user modules to name the problem.
 */
export function compressorDescriptorProblem(value: unknown): { member: string; expected: string; actual: string } | null {
  if (value === null || typeof value !== 'object') {
    return { member: 'descriptor', expected: 'an object', actual: value === null ? 'null' : typeof value };
  }
  const record = value as Record<string, unknown>;
  if (typeof record.kind !== 'string' || record.kind.length === 0) {
    return { member: 'kind', expected: 'a non-empty string', actual: JSON.stringify(record.kind) ?? 'undefined' };
  }
  const schema = record.optionsSchema as { safeParse?: unknown } | undefined;
  if (schema === null || typeof schema !== 'object' || typeof schema.safeParse !== 'function') {
    return { member: 'optionsSchema', expected: 'a zod schema (with safeParse)', actual: typeof schema };
  }
  for (const member of ['create', 'fromSavedConfig'] as const) {
    if (typeof record[member] !== 'function') return { member, expected: 'a function', actual: typeof record[member] };
  }
  return null;
}
