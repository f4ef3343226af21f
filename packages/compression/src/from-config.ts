// Recreates built-in compressors and compressive policies from their JSON config (as saved next to model weights).
import {
  createConvCompressor,
  createDilatedConvCompressor,
  createMaxPoolCompressor,
  createMeanPoolCompressor,
  createMostUsedCompressor,
} from './builtins.js';
import type { Compressor } from './compressor.js';
import { InvalidCompressionOptionError } from './errors.js';
import type { CompressionTraining } from './losses.js';
import { createCompressivePolicy } from './policy.js';
import { COMPRESSIVE_KIND } from './policy-contract.js';
import type { CompressivePolicy } from './policy-contract.js';

/** The kinds {@link createCompressorFromConfig} can rebuild. */
export const BUILT_IN_COMPRESSOR_KINDS = ['max-pool', 'mean-pool', 'conv', 'dilated-conv', 'most-used'] as const;

function optionalNumber(config: Record<string, unknown>, key: string): number | undefined {
  const value = config[key];
  return typeof value === 'number' ? value : undefined;
}

/**
 * A built-in compressor from its `config()` (e.g. `{ kind: 'conv', rate: 3, seed: 1 }`). Custom kinds throw:
 * create those yourself and pass them to {@link createCompressivePolicyFromConfig}.
 */
export function createCompressorFromConfig(config: Record<string, unknown>): Compressor {
  const kind = config?.kind;
  const rate = config?.rate as number;
  const seed = optionalNumber(config ?? {}, 'seed');
  const seeded = seed === undefined ? {} : { seed };
  switch (kind) {
    case 'max-pool':
      return createMaxPoolCompressor({ rate });
    case 'mean-pool':
      return createMeanPoolCompressor({ rate });
    case 'most-used':
      return createMostUsedCompressor({ rate });
    case 'conv':
      return createConvCompressor({ rate, ...seeded });
    case 'dilated-conv':
      return createDilatedConvCompressor({
        rate,
        ...seeded,
        ...(Array.isArray(config.dilations) ? { dilations: config.dilations as number[] } : {}),
      });
    default:
      throw new InvalidCompressionOptionError({
        factory: 'createCompressorFromConfig',
        option: 'kind',
        expected: `one of ${BUILT_IN_COMPRESSOR_KINDS.map((name) => `'${name}'`).join(', ')}`,
        actual: JSON.stringify(kind),
        fix: 'For a custom compressor, create it yourself and pass it as { compressor }.',
      });
  }
}

/**
 * A compressive policy from its `config()` (for example `(await readModelConfig(directory)).policy.config` of
 * @engram/model), to pass to `loadModel(directory, { policy })`. The compressor is rebuilt from `config.compressor`
 * unless `options.compressor` is given (required for custom compressors).
 */
export function createCompressivePolicyFromConfig(
  config: Record<string, unknown>,
  options: { compressor?: Compressor } = {},
): CompressivePolicy {
  if (config?.kind !== undefined && config.kind !== COMPRESSIVE_KIND) {
    throw new InvalidCompressionOptionError({
      factory: 'createCompressivePolicyFromConfig',
      option: 'kind',
      expected: `'${COMPRESSIVE_KIND}'`,
      actual: JSON.stringify(config.kind),
    });
  }
  const compressor =
    options.compressor ?? createCompressorFromConfig((config?.compressor ?? {}) as Record<string, unknown>);
  const evalMemoryLength = optionalNumber(config, 'evalMemoryLength');
  const evalCompressedLength = optionalNumber(config, 'evalCompressedLength');
  const seed = optionalNumber(config, 'seed');
  return createCompressivePolicy({
    memoryLength: config.memoryLength as number,
    compressedLength: config.compressedLength as number,
    compressor,
    ...(typeof config.training === 'string' ? { training: config.training as CompressionTraining } : {}),
    ...(evalMemoryLength === undefined ? {} : { evalMemoryLength }),
    ...(evalCompressedLength === undefined ? {} : { evalCompressedLength }),
    ...(seed === undefined ? {} : { seed }),
  });
}
