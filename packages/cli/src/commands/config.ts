// `engram config`: prints the configuration a preset, a file and flags resolve to (JSON or YAML), and `engram presets`.
import { z } from 'zod';
import { stringify as toYaml } from 'yaml';
import { resolveConfig, type ConfigSources } from '../config/resolve.js';
import { presetConfig, presetNames } from '../config/presets.js';
import { configSchemas, modelKinds, type EngramConfig } from '../config/schema.js';
import { UsageError } from '../errors.js';
import { writeLine, type CommandIo } from '../io.js';
import { temporalRangeOf } from '../build.js';

/** Options of {@link configCommand}. */
export interface ConfigCommandOptions extends ConfigSources {
  /** Output format (default yaml). */
  format?: string;
}

/** Resolves and prints a configuration; returns it. */
export function configCommand(options: ConfigCommandOptions, io: CommandIo): EngramConfig {
  const format = options.format ?? 'yaml';
  if (format !== 'yaml' && format !== 'json') {
    throw new UsageError(`--format must be "yaml" or "json", got "${format}"`);
  }
  const config = resolveConfig(options);
  io.stdout.write(format === 'json' ? `${JSON.stringify(config, null, 2)}\n` : toYaml(config));
  return config;
}

/** Drops `required` everywhere: a config file is laid over a preset, so every field of it may be left out. */
function withoutRequired(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutRequired);
  if (typeof value !== 'object' || value === null) return value;
  const result: Record<string, unknown> = {};
  for (const [key, child] of Object.entries(value)) if (key !== 'required') result[key] = withoutRequired(child);
  return result;
}

/**
 * The JSON Schema (draft 2020-12) of a configuration file, from the same zod schemas that validate it:
 * one branch per model kind, every field optional (a file overrides a preset), unknown fields refused.
 * Point an editor at it (`# yaml-language-server: $schema=engram.schema.json`, or `"$schema"` in JSON).
 */
export function configJsonSchema(): Record<string, unknown> {
  const union = z.union(Object.values(configSchemas) as unknown as [z.ZodType, z.ZodType, ...z.ZodType[]]);
  const schema = withoutRequired(z.toJSONSchema(union, { io: 'input', unrepresentable: 'any' })) as Record<string, unknown>;
  // A JSON file may name its schema.
  for (const branch of (schema.anyOf ?? []) as Record<string, Record<string, unknown>>[]) {
    (branch.properties as Record<string, unknown>).$schema = { type: 'string' };
  }
  return { ...schema, title: 'engram configuration file' };
}

/** Prints {@link configJsonSchema}. */
export function configSchemaCommand(io: CommandIo): void {
  io.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
}

/** Prints the table of presets: shape, memory and temporal range of each kind. */
export function presetsCommand(io: CommandIo): void {
  const rows: string[][] = [['kind', 'preset', 'layers', 'width', 'heads', 'ff', 'segment', 'memory', 'temporal range']];
  for (const kind of modelKinds) {
    for (const preset of presetNames) {
      const config = resolveConfig({ kind, preset });
      const model = config.model;
      rows.push([
        kind,
        preset,
        String(model.numLayers),
        String(model.modelDim),
        String(model.numHeads),
        String(model.feedForwardDim),
        String(model.segmentLength),
        describeMemory(presetConfig(kind, preset).memory as Record<string, unknown>),
        String(temporalRangeOf(config)),
      ]);
    }
  }
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  for (const row of rows) writeLine(io.stdout, row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd());
}

function describeMemory(memory: Record<string, unknown>): string {
  return Object.entries(memory)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join(' ');
}
