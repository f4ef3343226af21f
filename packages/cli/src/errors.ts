// Error classes of @engram/cli: each has a stable `name`, an optional `cause`, and a one-line message naming the fix.
import { EngramError, namedError } from '@engram/core';

/** Base class of every error the `engram` command reports to the user. */
export class CliError extends EngramError {
  override name = 'CliError';
  /** Process exit code used by the command line (always non-zero). */
  readonly exitCode: number;
  constructor(message: string, options?: { cause?: unknown; exitCode?: number }) {
    super(message, { cause: options?.cause });
    this.exitCode = options?.exitCode ?? 1;
  }
}

/** One field of a configuration that failed validation. */
export interface ConfigIssue {
  /** Dotted path of the field, e.g. `model.numHeads` (empty for the whole configuration). */
  path: string;
  /** What was expected and what was received. */
  message: string;
}

/**
 * A configuration (preset + file + flags) failed validation. `issues` lists every bad field;
 * the message puts them all on one line: `invalid configuration: model.numHeads: ...; training.steps: ...`.
 */
export class ConfigValidationError extends namedError(CliError, 'ConfigValidationError') {
  readonly issues: readonly ConfigIssue[];
  /** Where the configuration came from, e.g. `config.yaml + flags`. */
  readonly source: string;
  constructor(issues: readonly ConfigIssue[], source: string, options?: { cause?: unknown }) {
    const listed = issues.map((issue) => (issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`));
    super(`invalid configuration (${source}): ${listed.join('; ')}`, { ...options, exitCode: 2 });
    this.issues = issues;
    this.source = source;
  }
}

/** A configuration file cannot be read or parsed. */
export class ConfigFileError extends namedError(CliError, 'ConfigFileError') {
  /** The file that failed. */
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super(`config file ${file}: ${message}`, { ...options, exitCode: 2 });
    this.file = file;
  }
}

/** A command-line flag or argument is missing or malformed. */
export class UsageError extends namedError(CliError, 'UsageError') {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, exitCode: 2 });
  }
}

/** An input file or directory (model, text, corpus) is missing or unusable. */
export class InputError extends namedError(CliError, 'InputError') {
  /** The path that was given. */
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.path = path;
  }
}

/**
 * One line for the terminal from any thrown value: a CliError's message, or
 * `<name>: <message>` for errors raised by the libraries (their messages already name the fix).
 */
export function describeError(error: unknown): string {
  if (CliError.isInstance(error)) return oneLine(error.message);
  if (error instanceof Error) {
    const name = error.name && error.name !== 'Error' ? `${error.name}: ` : '';
    return oneLine(`${name}${error.message}`);
  }
  return oneLine(String(error));
}

/** Exit code for a thrown value: the CliError's own code, else 1. */
export function exitCodeOf(error: unknown): number {
  return CliError.isInstance(error) ? error.exitCode : 1;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
