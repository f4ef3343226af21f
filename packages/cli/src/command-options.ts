// Flag parsers and the flags shared by the `engram` commands (commander), and how config-reading flags become config sources.
import { Command, InvalidArgumentError, Option } from 'commander';
import { backendChoices, configKinds } from './config/schema.js';
import { presetNames, type ConfigInput } from './config/presets.js';

/** A commander parser of integers >= `minimum`; the error names the flag. */
export function integer(name: string, minimum: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < minimum) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${minimum}, got "${value}".`);
    }
    return parsed;
  };
}

/** A commander parser of finite numbers > 0; the error names the flag. */
export function positiveNumber(name: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed <= 0) {
      throw new InvalidArgumentError(`${name} must be a number > 0, got "${value}".`);
    }
    return parsed;
  };
}

/** Collects a repeatable flag's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--backend <name>`, one of the backend choices. */
export const backendOption = (): Option =>
  new Option('-b, --backend <name>', 'tensor backend (auto tries tensorflow-gpu, tensorflow, wasm, cpu)').choices(
    backendChoices,
  );

/** Flags shared by every command that reads a configuration. */
export function addConfigOptions(command: Command): Command {
  return command
    .addOption(new Option('-k, --kind <kind>', 'memory method (custom: your own policy module, see memory.module)').choices(configKinds))
    .addOption(new Option('-p, --preset <name>', 'starting point for the configuration (default tiny)').choices(presetNames))
    .option('-c, --config <file>', 'configuration file (.json, .yaml or .yml); flags override it')
    .option('-s, --set <path=value>', 'override one field, e.g. --set model.numLayers=4 (repeatable)', collect, []);
}

/** Options every config-reading command gets from commander. */
export interface ConfigFlags {
  kind?: string;
  preset?: string;
  config?: string;
  set?: string[];
  backend?: string;
}

/** The config sources of a command's flags, with `overrides` for its shortcut flags. */
export function configSourcesOf(flags: ConfigFlags, overrides: ConfigInput[] = []) {
  return {
    ...(flags.kind === undefined ? {} : { kind: flags.kind }),
    ...(flags.preset === undefined ? {} : { preset: flags.preset }),
    ...(flags.config === undefined ? {} : { file: flags.config }),
    ...(flags.backend === undefined ? {} : { backend: flags.backend }),
    settings: flags.set ?? [],
    overrides,
  };
}
