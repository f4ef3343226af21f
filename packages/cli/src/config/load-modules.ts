// Loads the user modules a configuration or a saved model names (a policy or a compressor descriptor) and checks them.
import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compressorDescriptorProblem, type CompressorDescriptor } from '@engram/compression';
import { defineMemoryPolicyDescriptor, type MemoryPolicyDescriptor } from '@engram/memory';
import { CliError, ConfigValidationError, InputError } from '../errors.js';
import { moduleReferenceOf, registerModuleDescriptor, type ModuleReference } from '../user-modules.js';
import { describeValue } from '@engram/core';
import { formatIssue } from './resolve.js';
import type { EngramConfig } from './schema.js';

/** The kinds of descriptor a module can hold. */
type DescriptorKind = 'policy' | 'compressor';

const TYPE_NAMES: Record<DescriptorKind, string> = {
  policy: 'MemoryPolicyDescriptor (kind, optionsSchema, create, fromSavedConfig, temporalRange)',
  compressor: 'CompressorDescriptor (kind, optionsSchema, create, fromSavedConfig)',
};

/** What keeps `value` from being a memory policy descriptor, or null. */
function policyDescriptorProblem(value: unknown): string | null {
  if (value === null || typeof value !== 'object') return `it is ${describeValue(value)}`;
  const record = value as Record<string, unknown>;
  if (typeof record.kind !== 'string' || record.kind.length === 0) return `its kind is ${describeValue(record.kind)}, not a non-empty string`;
  const schema = record.optionsSchema as { safeParse?: unknown } | null | undefined;
  if (schema === null || typeof schema !== 'object' || typeof schema.safeParse !== 'function') {
    return 'its optionsSchema is not a zod schema (no safeParse)';
  }
  for (const member of ['create', 'fromSavedConfig', 'temporalRange'] as const) {
    if (typeof record[member] !== 'function') return `its ${member} is ${describeValue(record[member])}, not a function`;
  }
  if (record.unroll !== undefined && typeof record.unroll !== 'function') return 'its unroll is not a function';
  return null;
}

/**
 * Imports `reference.module` and returns the descriptor in `reference.export`, registered for the builder.
 * `field` names the configuration field in errors (e.g. `memory.module`); `origin` says where the reference
 * was read (the configuration, or a saved model's config.json).
 */
async function loadDescriptor(
  reference: ModuleReference,
  kind: DescriptorKind,
  field: string,
  origin: string,
): Promise<MemoryPolicyDescriptor | CompressorDescriptor> {
  const path = reference.module;
  const info = await stat(path).catch(() => null);
  if (info === null || !info.isFile()) {
    throw new InputError(
      path,
      `${field}: the ${kind} module ${path} ${info === null ? 'does not exist' : 'is not a file'} (named by ${origin}): ` +
        'fix the path (relative paths are relative to the configuration file), or restore the module at that path',
    );
  }
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliError(
      `${field}: the ${kind} module ${path} cannot be imported (${(error as Error)?.message?.split('\n')[0] ?? String(error)}): ` +
        'fix the module (it must be an ES module Node can import, e.g. .mjs or .js with "type": "module")',
      { cause: error },
    );
  }
  if (!(reference.export in namespace)) {
    const exports = Object.keys(namespace);
    throw new CliError(
      `${field}: the ${kind} module ${path} has no export "${reference.export}" ` +
        `(it exports ${exports.length === 0 ? 'nothing' : exports.map((name) => `"${name}"`).join(', ')}): ` +
        `set ${field.replace(/module$/, 'export')} to the export holding the ${kind} descriptor`,
    );
  }
  const value = namespace[reference.export];
  if (kind === 'policy') {
    const problem = policyDescriptorProblem(value);
    if (problem !== null) {
      throw new CliError(
        `${field}: export "${reference.export}" of ${path} is not a ${TYPE_NAMES.policy}: ${problem}; ` +
          'export the result of defineMemoryPolicyDescriptor from @engram/memory',
      );
    }
    const descriptor = defineMemoryPolicyDescriptor(value as MemoryPolicyDescriptor);
    registerModuleDescriptor(reference, { kind: 'policy', descriptor });
    return descriptor;
  }
  const problem = compressorDescriptorProblem(value);
  if (problem !== null) {
    throw new CliError(
      `${field}: export "${reference.export}" of ${path} is not a ${TYPE_NAMES.compressor}: its ${problem.member} is ${problem.actual}, ` +
        `expected ${problem.expected}; export the result of defineCompressorDescriptor from @engram/compression`,
    );
  }
  const descriptor = value as CompressorDescriptor;
  registerModuleDescriptor(reference, { kind: 'compressor', descriptor });
  return descriptor;
}

/** Checks a module's options against its descriptor's schema; throws ConfigValidationError naming each bad option. */
function checkOptions(
  descriptor: { optionsSchema: { safeParse(input: unknown, params?: { reportInput?: boolean }): { success: boolean; error?: { issues: unknown[] } } } },
  options: Record<string, unknown>,
  field: string,
  source: string,
): void {
  const result = descriptor.optionsSchema.safeParse(options, { reportInput: true });
  if (result.success) return;
  const issues = (result.error?.issues ?? []).flatMap((issue) =>
    formatIssue(issue as Parameters<typeof formatIssue>[0]).map((entry) => ({
      path: entry.path === '' ? field : `${field}.${entry.path}`,
      message: entry.message,
    })),
  );
  throw new ConfigValidationError(issues.length > 0 ? issues : [{ path: field, message: 'rejected by the module\'s optionsSchema' }], source);
}

/**
 * Loads every user module a validated configuration names (kind `custom`'s `memory.module`, a compressive memory's
 * `memory.compressor.module`), checks that each export is a descriptor and that the options pass its schema, and
 * registers the descriptors for the builder. Relative paths are resolved against `baseDirectory` (the configuration
 * file's were made absolute when it was read). Returns the configuration with absolute module paths.
 */
export async function loadConfigModules(config: EngramConfig, source: string, baseDirectory = process.cwd()): Promise<EngramConfig> {
  const absolute = (path: string) => (isAbsolute(path) ? path : resolve(baseDirectory, path));
  if (config.kind === 'custom') {
    const memory = { ...config.memory, module: absolute(config.memory.module) };
    const descriptor = (await loadDescriptor(memory, 'policy', 'memory.module', source)) as MemoryPolicyDescriptor;
    checkOptions(descriptor, memory.options, 'memory.options', source);
    return { ...config, memory };
  }
  if (config.kind === 'compressive' && typeof config.memory.compressor === 'object') {
    const compressor = { ...config.memory.compressor, module: absolute(config.memory.compressor.module) };
    const descriptor = (await loadDescriptor(compressor, 'compressor', 'memory.compressor.module', source)) as CompressorDescriptor;
    checkOptions(descriptor, compressor.options, 'memory.compressor.options', source);
    return { ...config, memory: { ...config.memory, compressor } };
  }
  return config;
}

/**
 * Loads the user modules a saved policy config names (its own module reference and its compressor's), so that
 * `policyFromSavedConfig` can rebuild the policy. `where` names the file in errors (a model's config.json).
 */
export async function loadSavedModules(savedPolicyConfig: Readonly<Record<string, unknown>>, where: string): Promise<void> {
  const policy = moduleReferenceOf(savedPolicyConfig);
  if (policy !== undefined) await loadDescriptor(policy, 'policy', 'policy.config.engramModule.module', where);
  const compressor = moduleReferenceOf(savedPolicyConfig.compressor);
  if (compressor !== undefined) await loadDescriptor(compressor, 'compressor', 'policy.config.compressor.engramModule.module', where);
}
