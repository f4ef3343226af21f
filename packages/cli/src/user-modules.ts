// Policies and compressors from a user's module: the loaded descriptors, and the module reference saved in their config().
import type { CompressorDescriptor } from '@engram/compression';
import type { MemoryPolicyDescriptor } from '@engram/memory';
import { CliError } from './errors.js';

/**
 * Key of the module reference inside a saved `policy.config()` (or its `compressor` entry): config.json then says
 * which module rebuilds the policy, so any model directory (final, checkpoint, export) reloads on its own.
 */
export const MODULE_KEY = 'engramModule';

/** Where a user's descriptor comes from: an absolute module path and the export holding it. */
export interface ModuleReference {
  module: string;
  export: string;
}

type Loaded = { kind: 'policy'; descriptor: MemoryPolicyDescriptor } | { kind: 'compressor'; descriptor: CompressorDescriptor };

/** Descriptors loaded by `loadConfigModules` / `loadSavedModules` (config/load-modules.ts), by module and export. */
const loaded = new Map<string, Loaded>();

function keyOf(reference: ModuleReference): string {
  return `${reference.module}#${reference.export}`;
}

/** Records a loaded descriptor (called by the node loader once the module passed every check). */
export function registerModuleDescriptor(reference: ModuleReference, entry: Loaded): void {
  loaded.set(keyOf(reference), entry);
}

function lookup(reference: ModuleReference, kind: Loaded['kind']): Loaded {
  const entry = loaded.get(keyOf(reference));
  if (entry === undefined || entry.kind !== kind) {
    throw new CliError(
      `the ${kind} of module ${reference.module} (export "${reference.export}") is not loaded: user modules are loaded by the ` +
        'engram command in Node (train, eval, generate, export, inspect); from code, call loadConfigModules or loadSavedModules first',
    );
  }
  return entry;
}

/** The loaded policy descriptor of a module reference (throws when it was not loaded). */
export function loadedPolicyDescriptor(reference: ModuleReference): MemoryPolicyDescriptor {
  return lookup(reference, 'policy').descriptor as MemoryPolicyDescriptor;
}

/** The loaded compressor descriptor of a module reference (throws when it was not loaded). */
export function loadedCompressorDescriptor(reference: ModuleReference): CompressorDescriptor {
  return lookup(reference, 'compressor').descriptor as CompressorDescriptor;
}

/** The module reference inside a saved config, or undefined for a built-in. */
export function moduleReferenceOf(saved: unknown): ModuleReference | undefined {
  if (saved === null || typeof saved !== 'object') return undefined;
  const reference = (saved as Record<string, unknown>)[MODULE_KEY] as Partial<ModuleReference> | undefined;
  if (reference === undefined || typeof reference !== 'object' || reference === null) return undefined;
  if (typeof reference.module !== 'string' || typeof reference.export !== 'string') return undefined;
  return { module: reference.module, export: reference.export };
}

/** A saved config without the module reference (what the user's `fromSavedConfig` receives: its own config()). */
export function withoutModuleReference(saved: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { [MODULE_KEY]: _reference, ...rest } = saved;
  return rest;
}

/**
 * The same policy or compressor whose `config()` also records where it came from ({@link MODULE_KEY}); every other
 * member is the original's (methods bound to it). The reference is saved with the model and read back on loading.
 */
export function withModuleReference<T extends object & { config(): Record<string, unknown> }>(target: T, reference: ModuleReference): T {
  const config = (): Record<string, unknown> => ({
    ...target.config(),
    [MODULE_KEY]: { module: reference.module, export: reference.export },
  });
  // The proxy's own target is a blank object so that a frozen original cannot trip the proxy invariants.
  return new Proxy(Object.create(Object.getPrototypeOf(target) as object | null) as T, {
    get(_blank, key) {
      if (key === 'config') return config;
      const value = Reflect.get(target, key, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
    has: (_blank, key) => key in target,
  });
}
