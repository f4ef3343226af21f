// The compressive policy descriptor: kind, defaults, config-file schema (compressor by name), factories, range, unroll.
import { defineMemoryPolicyDescriptor } from '@engram/memory';
import { z } from 'zod';
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

/** The options of a compressive memory as a configuration file gives them (compressor by name, SPEC 3). */
export const compressiveOptionsObject = z.strictObject({
  memoryLength: positiveInteger,
  compressedLength: positiveInteger,
  compressionRate: positiveInteger,
  compressor: z.enum(BUILT_IN_COMPRESSOR_KINDS).default(COMPRESSIVE_DEFAULTS.compressor),
  /** Default: attention-reconstruction for conv and dilated-conv, none for the others. */
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
    const parametric = PARAMETRIC_COMPRESSORS.includes(memory.compressor);
    if (!parametric && memory.training !== undefined && memory.training !== 'none') {
      context.addIssue({
        code: 'custom',
        path: ['training'],
        message: `compressor "${memory.compressor}" has no parameters to train, so training must be "none", got "${memory.training}"`,
      });
    }
  })
  .transform((memory) => ({
    ...memory,
    training: memory.training ?? (PARAMETRIC_COMPRESSORS.includes(memory.compressor) ? 'attention-reconstruction' : 'none'),
  }));

/** The compressive descriptor: what the CLI, metrics, trainer and bench read about kind `compressive`. */
export const compressivePolicyDescriptor = defineMemoryPolicyDescriptor({
  kind: COMPRESSIVE_KIND,
  description: 'Compressive Transformer: regular FIFO plus a compressed FIFO at rate c (SPEC 3)',
  defaults: COMPRESSIVE_DEFAULTS,
  optionsSchema: compressiveOptionsSchema,
  optionNames: Object.keys(compressiveOptionsObject.shape),
  create: (options: z.output<typeof compressiveOptionsSchema>, context = {}) =>
    createCompressivePolicy({
      memoryLength: options.memoryLength,
      compressedLength: options.compressedLength,
      compressor: createCompressorFromConfig({
        kind: options.compressor,
        rate: options.compressionRate,
        dilations: options.dilations,
        ...(context.seed === undefined ? {} : { seed: context.seed }),
      }),
      training: options.training,
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
