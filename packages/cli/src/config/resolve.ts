// Builds a validated configuration from a preset, a JSON/YAML file and command-line overrides, with field-level errors.
import { readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { describeValue } from '@engram/core';
import { ConfigFileError, ConfigValidationError, UsageError, type ConfigIssue } from '../errors.js';
import { presetConfig, presetNames, type ConfigInput, type PresetName } from './presets.js';
import { configKinds, configSchemas, knownConfigFields, type ConfigKind, type EngramConfig } from './schema.js';

/** Where a configuration comes from; later sources override earlier ones (preset < file < overrides < settings). */
export interface ConfigSources {
  /** Model kind; else the file's `kind`; else `txl`. */
  kind?: string;
  /** Preset name; else the file's `preset`; else `tiny`. */
  preset?: string;
  /** A `.json`, `.yaml` or `.yml` configuration file. */
  file?: string;
  /** Partial configurations from individual flags (e.g. `{ training: { steps: 10 } }`), merged in order. */
  overrides?: ConfigInput[];
  /** `path=value` settings from `--set`, e.g. `model.numLayers=4` (values parsed as YAML scalars). */
  settings?: string[];
  /** Backend from `--backend` (highest priority). */
  backend?: string;
}

/** Largest configuration file read (16 MiB). */
const CONFIG_FILE_BYTES = 16 * 1024 * 1024;

/** Reads a configuration file (a regular file of at most 16 MiB): JSON for `.json`, YAML otherwise (YAML is a superset of JSON). */
export function readConfigFile(file: string): ConfigInput {
  let text: string;
  try {
    const info = statSync(file);
    if (!info.isFile()) {
      throw new ConfigFileError(file, `is ${info.isDirectory() ? 'a directory' : 'not a regular file (a device or a pipe?)'}: give a .json, .yaml or .yml file`);
    }
    if (info.size > CONFIG_FILE_BYTES) {
      throw new ConfigFileError(file, `has ${info.size} bytes, more than the ${CONFIG_FILE_BYTES} a configuration may have: is it the right file?`);
    }
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof ConfigFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigFileError(file, code === 'ENOENT' ? 'no such file' : `cannot be read (${code ?? String(error)})`, {
      cause: error,
    });
  }
  let value: unknown;
  try {
    value = extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new ConfigFileError(file, `is not valid ${extname(file).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${reason}`, {
      cause: error,
    });
  }
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value)) {
    throw new ConfigFileError(file, `must hold an object at the top level, got ${describeValue(value)}`);
  }
  return value;
}

/** Merges `override` into `base` recursively (objects merge, everything else replaces). Returns a new object. */
export function mergeConfig(base: ConfigInput, override: ConfigInput): ConfigInput {
  const result: ConfigInput = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === undefined) continue;
    const existing = result[key];
    result[key] = isPlainObject(existing) && isPlainObject(value) ? mergeConfig(existing, value) : value;
  }
  return result;
}

/** Turns `model.numLayers=4` into `{ model: { numLayers: 4 } }` (the value is parsed as a YAML scalar or flow list). */
export function parseSetting(setting: string): ConfigInput {
  const equals = setting.indexOf('=');
  if (equals <= 0) {
    throw new UsageError(`--set expects path=value (e.g. --set model.numLayers=4), got "${setting}"`);
  }
  const path = setting.slice(0, equals).trim().split('.');
  if (path.some((part) => part === '')) {
    throw new UsageError(`--set path "${setting.slice(0, equals)}" has an empty part: write it like training.steps`);
  }
  const raw = setting.slice(equals + 1);
  let value: unknown;
  try {
    value = raw === '' ? '' : parseYaml(raw);
  } catch {
    value = raw;
  }
  let result: unknown = value;
  for (const key of path.slice().reverse()) result = { [key]: result };
  return result as ConfigInput;
}

/**
 * The file's module paths (`memory.module`, `memory.compressor.module`) made absolute against the file's directory,
 * so that the saved configuration reloads from any working directory.
 */
function withAbsoluteModulePaths(input: ConfigInput, file: string): ConfigInput {
  const memory = input.memory;
  if (!isPlainObject(memory)) return input;
  const absolute = (value: unknown) => (typeof value === 'string' && value !== '' && !isAbsolute(value) ? resolve(dirname(file), value) : value);
  const next: Record<string, unknown> = { ...memory };
  if ('module' in memory) next.module = absolute(memory.module);
  if (isPlainObject(memory.compressor) && 'module' in memory.compressor) {
    next.compressor = { ...memory.compressor, module: absolute(memory.compressor.module) };
  }
  return { ...input, memory: next };
}

/** `custom` when the memory names a module (`memory.module`), for a file or flags that give no kind. */
function impliedKind(layers: ConfigInput[]): string | undefined {
  return layers.some((layer) => isPlainObject(layer.memory) && 'module' in layer.memory) ? 'custom' : undefined;
}

/** Resolves and validates a configuration from its sources; throws ConfigValidationError listing every bad field. */
export function resolveConfig(sources: ConfigSources): EngramConfig {
  const fromFile = sources.file === undefined ? {} : withAbsoluteModulePaths(readConfigFile(sources.file), sources.file);
  const settings = (sources.settings ?? []).map(parseSetting);
  const layered = [...(sources.overrides ?? []), ...settings];
  const label = [sources.file, layered.length > 0 || sources.kind !== undefined ? 'flags' : undefined]
    .filter((part) => part !== undefined)
    .join(' + ');

  const kind = pickString(sources.kind, layered, 'kind') ?? stringField(fromFile, 'kind') ?? impliedKind([fromFile, ...layered]) ?? 'txl';
  if (!isModelKind(kind)) {
    throw new ConfigValidationError(
      [{ path: 'kind', message: `must be one of ${quoteList(configKinds)}, got ${describeValue(kind)}` }],
      label || 'defaults',
    );
  }
  const preset = pickString(sources.preset, layered, 'preset') ?? stringField(fromFile, 'preset') ?? 'tiny';
  if (!(presetNames as readonly string[]).includes(preset)) {
    throw new ConfigValidationError(
      [{ path: 'preset', message: `must be one of ${quoteList(presetNames)}, got ${describeValue(preset)}` }],
      label || 'defaults',
    );
  }
  let merged = mergeConfig(presetConfig(kind, preset as PresetName), { ...fromFile, kind, preset });
  for (const layer of layered) merged = mergeConfig(merged, layer);
  merged.kind = kind;
  merged.preset = preset;
  if (sources.backend !== undefined) merged.backend = sources.backend;
  return validateConfig(merged, label || `preset ${preset}`);
}

/** Validates a full configuration input; throws ConfigValidationError with one entry per bad field. */
export function validateConfig(input: ConfigInput, source = 'configuration'): EngramConfig {
  const kind = input.kind;
  if (!isModelKind(kind)) {
    throw new ConfigValidationError(
      [{ path: 'kind', message: `must be one of ${quoteList(configKinds)}, got ${describeValue(kind)}` }],
      source,
    );
  }
  const schema: z.ZodType<EngramConfig> = configSchemas[kind] as unknown as z.ZodType<EngramConfig>;
  const result = schema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  throw new ConfigValidationError(result.error.issues.flatMap(formatIssue), source);
}

/** Turns one zod issue into field-level messages that say what was expected and what was given. */
export function formatIssue(issue: z.core.$ZodIssue): ConfigIssue[] {
  const path = issue.path.map(String).join('.');
  const got = 'input' in issue ? describeValue(issue.input) : undefined;
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => {
        const suggestion = closest(key, knownConfigFields);
        return {
          path: path === '' ? key : `${path}.${key}`,
          message: `unknown field${suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`}: remove it or fix its name`,
        };
      });
    case 'invalid_type': {
      if (issue.input === undefined) return [{ path, message: `is required (expected ${issue.expected})` }];
      const expected = issue.expected === 'int' ? 'an integer' : issue.expected;
      return [{ path, message: `expected ${expected}, got ${got}` }];
    }
    case 'too_small': {
      const bound = `${issue.inclusive === false ? '>' : '>='} ${String(issue.minimum)}`;
      const what = issue.origin === 'array' || issue.origin === 'string' ? `length ${bound}` : bound;
      return [{ path, message: `must be ${what}, got ${got}` }];
    }
    case 'too_big': {
      const bound = `${issue.inclusive === false ? '<' : '<='} ${String(issue.maximum)}`;
      const what = issue.origin === 'array' || issue.origin === 'string' ? `length ${bound}` : bound;
      return [{ path, message: `must be ${what}, got ${got}` }];
    }
    case 'invalid_value':
      return [{ path, message: `must be one of ${quoteList(issue.values.map(String))}, got ${got}` }];
    case 'custom':
      return [{ path, message: issue.message }];
    default:
      return [{ path, message: got === undefined ? issue.message : `${issue.message}, got ${got}` }];
  }
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function pickString(flag: string | undefined, layers: ConfigInput[], key: string): string | undefined {
  if (flag !== undefined) return flag;
  for (const layer of layers.slice().reverse()) {
    const value = layer[key];
    if (typeof value === 'string') return value;
  }
  return undefined;
}

function stringField(input: ConfigInput, key: string): string | undefined {
  const value = input[key];
  return typeof value === 'string' ? value : undefined;
}

function isModelKind(value: unknown): value is ConfigKind {
  return typeof value === 'string' && (configKinds as readonly string[]).includes(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function quoteList(values: readonly string[]): string {
  return values.map((value) => `"${value}"`).join(', ');
}
