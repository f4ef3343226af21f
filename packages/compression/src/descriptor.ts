// The compressive policy descriptor: kind, defaults, config-file schema (compressor by name), factories, range, unroll.
import { defineMemoryPolicyDescriptor, type PolicyCreateContext } from '@engram/memory';
import { z } from 'zod';
import type { Compressor } from './compressor.js';
import { InvalidCompressionOptionError } from './errors.js';
import { BUILT_IN_COMPRESSOR_KINDS, createCompressivePolicyFromConfig, createCompressorFromConfig } from './from-config.js';
import { COMPRESSION_TRAINING_MODES } from './losses.js';
import type { CompressionTraining } from './losses.js';
import { createCompressivePolicy } from './policy.js';
import { COMPRESSIVE_KIND, compressiveTemporalRange } from './policy-contract.js';

/** Defaults of the optional options of a compressive configuration. */
export const COMPRESSIVE_DEFAULTS = Object.freeze({
  compressor: 'conv' as const,
  bpttSegments: 2,
  dilations: [1, 2, 4] as [number, ...number[]],
});

/** The built-in compressors with parameters (trained by default with attention reconstruction). */
const PARAMETRIC_COMPRESSORS: readonly string[] = ['conv', 'dilated-conv'];

const positiveInteger = z.number().int().positive();
const nonNegativeInteger = z.number().int().nonnegative();

/**
 * A compressor from a user module, as a configuration file names it: the module's path, the name of the
 * export holding its `CompressorDescriptor`, and the options its schema checks. The engram command loads it.
 */
export const compressorModuleSchema = z.strictObject({
  /** Path of an ES module (relative paths are relative to the configuration file). */
  module: z.string().min(1),
  /** The export holding the descriptor (default `default`). */
  export: z.string().min(1).default('default'),
  /** Options checked by the descriptor's optionsSchema. */
  options: z.record(z.string(), z.unknown()).default({}),
});
export type CompressorModuleReference = z.output<typeof compressorModuleSchema>;

/** What the compressive descriptor's `create` takes besides the model's seed: the compressor a module reference names. */
export interface CompressiveCreateContext extends PolicyCreateContext {
  /** The compressor built from a `{ module }` reference (required when `options.compressor` is one). */
  compressor?: Compressor;
}

/** Whether a compressor setting names a built-in with parameters (trained by attention reconstruction by default). */
function isParametric(compressor: string | CompressorModuleReference): boolean {
  return typeof compressor === 'string' && PARAMETRIC_COMPRESSORS.includes(compressor);
}

/** The options of a compressive memory as a configuration file gives them (compressor by name, SPEC 3). */
export const compressiveOptionsObject = z.strictObject({
  memoryLength: positiveInteger,
  compressedLength: positiveInteger,
  compressionRate: positiveInteger,
  /** A built-in compressor by name, or `{ module, export, options }` for your own. */
  compressor: z.union([z.enum(BUILT_IN_COMPRESSOR_KINDS), compressorModuleSchema]).default(COMPRESSIVE_DEFAULTS.compressor),
  /** Default: attention-reconstruction for conv and dilated-conv, none for the other built-ins; for a module, by its `trainable`. */
  training: z.enum(COMPRESSION_TRAINING_MODES as [CompressionTraining, ...CompressionTraining[]]).optional(),
  /** Segments unrolled per gradient step in `bptt` mode. */
  bpttSegments: z.number().int().min(2).default(COMPRESSIVE_DEFAULTS.bpttSegments),
  /** Dilations of the `dilated-conv` compressor. */
  dilations: z.array(positiveInteger).nonempty().default(() => [...COMPRESSIVE_DEFAULTS.dilations] as [number, ...number[]]),
  /** Regular memory slots used in evaluation (default memoryLength). */
  evalMemoryLength: nonNegativeInteger.optional(),
  /** Compressed memory slots used in evaluation (default compressedLength). */
  evalCompressedLength: nonNegativeInteger.optional(),
});

/** {@link compressiveOptionsObject} with the training mode checked against the compressor and its default filled in. */
export const compressiveOptionsSchema = compressiveOptionsObject
  .superRefine((memory, context) => {
    const parametric = isParametric(memory.compressor);
    if (typeof memory.compressor === 'string' && !parametric && memory.training !== undefined && memory.training !== 'none') {
      context.addIssue({
        code: 'custom',
        path: ['training'],
        message: `compressor "${memory.compressor}" has no parameters to train, so training must be "none", got "${memory.training}"`,
      });
    }
  })
  .transform((memory) => ({
    ...memory,
    // A module's compressor decides its own default (createCompressivePolicy: by `trainable`).
    training:
      memory.training ?? (typeof memory.compressor !== 'string' ? undefined : isParametric(memory.compressor) ? 'attention-reconstruction' : 'none'),
  }));

/** The compressive descriptor: what the CLI, metrics, trainer and bench read about kind `compressive`. */
export const compressivePolicyDescriptor = defineMemoryPolicyDescriptor({
  kind: COMPRESSIVE_KIND,
  description: 'Compressive Transformer: regular FIFO plus a compressed FIFO at rate c (SPEC 3)',
  defaults: COMPRESSIVE_DEFAULTS,
  optionsSchema: compressiveOptionsSchema,
  optionNames: Object.keys(compressiveOptionsObject.shape),
  create: (options: z.output<typeof compressiveOptionsSchema>, context: CompressiveCreateContext = {}) =>
    createCompressivePolicy({
      memoryLength: options.memoryLength,
      compressedLength: options.compressedLength,
      compressor: compressorOf(options, context),
      ...(options.training === undefined ? {} : { training: options.training }),
      ...(context.seed === undefined ? {} : { seed: context.seed }),
      ...(options.evalMemoryLength === undefined ? {} : { evalMemoryLength: options.evalMemoryLength }),
      ...(options.evalCompressedLength === undefined ? {} : { evalCompressedLength: options.evalCompressedLength }),
    }),
  fromSavedConfig: (saved) => createCompressivePolicyFromConfig({ ...saved }),
  temporalRange: (options, numLayers) =>
    compressiveTemporalRange(
      { memoryLength: options.memoryLength, compressedLength: options.compressedLength, rate: options.compressionRate },
      numLayers,
    ),
  unroll: (options) => (options.training === 'bptt' ? options.bpttSegments : 1),
});

/** The compressor of validated compressive options: a built-in rebuilt by name, or the one a module reference gave. */
function compressorOf(options: z.output<typeof compressiveOptionsSchema>, context: CompressiveCreateContext): Compressor {
  if (typeof options.compressor === 'string') {
    return createCompressorFromConfig({
      kind: options.compressor,
      rate: options.compressionRate,
      dilations: options.dilations,
      ...(context.seed === undefined ? {} : { seed: context.seed }),
    });
  }
  const reference = options.compressor;
  if (context.compressor === undefined) {
    throw new InvalidCompressionOptionError({
      factory: 'compressivePolicyDescriptor.create',
      option: 'compressor',
      expected: 'a built-in compressor name, or context.compressor built from the module reference',
      actual: `the module reference ${JSON.stringify(reference.module)} (export ${JSON.stringify(reference.export)}) without context.compressor`,
      fix: "Load the module's CompressorDescriptor, create the compressor and pass it as { compressor } (the engram command does this).",
    });
  }
  if (context.compressor.rate !== options.compressionRate) {
    throw new InvalidCompressionOptionError({
      factory: 'compressivePolicyDescriptor.create',
      option: 'compressor',
      expected: `a compressor of rate ${options.compressionRate} (compressionRate)`,
      actual: `the ${context.compressor.kind} compressor of ${JSON.stringify(reference.module)} with rate ${context.compressor.rate}`,
      fix: "Make the descriptor's create() use context.rate.",
    });
  }
  return context.compressor;
}
