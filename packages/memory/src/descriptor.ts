// Policy descriptors: one object per policy kind that the CLI, metrics, trainer and bench read (kind, defaults, schema, range).
import type { z } from 'zod';
import { MemoryPolicyError } from './errors.js';
import type { MemoryPolicy } from './policy.js';

/** What the model side hands to {@link MemoryPolicyDescriptor.create} besides the options. */
export interface PolicyCreateContext {
  /** The model's seed, for policies with a seeded initialisation or noise (ignored by the others). */
  seed?: number;
}

/**
 * Everything about one policy kind, in one place. `optionsSchema` validates the options as a configuration file
 * writes them (defaults filled in); `create` builds an unbuilt policy from validated options; `fromSavedConfig`
 * rebuilds one from what `policy.config()` returned when the model was saved; `temporalRange` is the same
 * function the policy's own `temporalRange()` uses, so tables, logs and the live policy agree.
 */
export interface MemoryPolicyDescriptor<
  Schema extends z.ZodType = z.ZodType,
  Policy extends MemoryPolicy = MemoryPolicy,
> {
  /** The policy kind (`policy.kind`, `config().kind`, the `meta.kind` of saved states). */
  readonly kind: string;
  /** One line for listings. */
  readonly description: string;
  /** Defaults of the optional options (what the schema fills in and the factory assumes). */
  readonly defaults: Readonly<Partial<z.output<Schema>>>;
  /** The options as a configuration file gives them (a strict zod object: unknown keys are errors). */
  readonly optionsSchema: Schema;
  /** The option names `optionsSchema` knows (for "did you mean" suggestions). */
  readonly optionNames: readonly string[];
  /** A new, unbuilt policy (the model builds it). */
  create(options: z.output<Schema>, context?: PolicyCreateContext): Policy;
  /** A new, unbuilt policy from a saved `policy.config()`. */
  fromSavedConfig(saved: Readonly<Record<string, unknown>>): Policy;
  /** Temporal range in tokens over `numLayers` layers (SPEC 3): equals `create(options).temporalRange(numLayers)`. */
  temporalRange(options: z.output<Schema>, numLayers: number): number;
  /** Segments unrolled per gradient step (BPTT): 1 unless the policy trains through memory. */
  unroll(options: z.output<Schema>): number;
}

/**
 * Checks and freezes a descriptor (a non-empty kind, the functions present). `optionNames` is taken from the
 * schema's shape when not given.
 */
export function defineMemoryPolicyDescriptor<Schema extends z.ZodType, Policy extends MemoryPolicy>(
  descriptor: Omit<MemoryPolicyDescriptor<Schema, Policy>, 'optionNames' | 'unroll'> &
    Partial<Pick<MemoryPolicyDescriptor<Schema, Policy>, 'optionNames' | 'unroll'>>,
): MemoryPolicyDescriptor<Schema, Policy> {
  if (typeof descriptor?.kind !== 'string' || descriptor.kind.length === 0) {
    throw new MemoryPolicyError(
      `defineMemoryPolicyDescriptor: kind must be a non-empty string, got ${JSON.stringify(descriptor?.kind)}.`,
    );
  }
  for (const name of ['create', 'fromSavedConfig', 'temporalRange'] as const) {
    if (typeof descriptor[name] !== 'function') {
      throw new MemoryPolicyError(`defineMemoryPolicyDescriptor(${descriptor.kind}): ${name} must be a function.`);
    }
  }
  const shape = shapeOf(descriptor.optionsSchema);
  return Object.freeze({
    ...descriptor,
    defaults: Object.freeze({ ...descriptor.defaults }),
    optionNames: Object.freeze([...(descriptor.optionNames ?? Object.keys(shape))]),
    unroll: descriptor.unroll ?? (() => 1),
  });
}

/** The object shape behind a zod schema (through refinements, transforms and pipes), or `{}`. */
function shapeOf(schema: z.ZodType): Record<string, unknown> {
  let current: unknown = schema;
  for (let depth = 0; depth < 8 && current; depth++) {
    const candidate = current as { shape?: unknown; def?: { in?: unknown; innerType?: unknown; schema?: unknown } };
    if (candidate.shape && typeof candidate.shape === 'object') return candidate.shape as Record<string, unknown>;
    current = candidate.def?.in ?? candidate.def?.innerType ?? candidate.def?.schema;
  }
  return {};
}

/** A saved config without null or undefined entries (older saved files wrote absent options as null). */
export function withoutNulls(record: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record ?? {}).filter(([, value]) => value !== null && value !== undefined));
}
