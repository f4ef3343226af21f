// The first checks of a factory whose options may come from a saved config of some kind: the options are an object, and a given kind is its own.
import { describeValue } from './describe-value.js';
import type { OptionProblem } from './detailed-errors.js';
import type { EngramError } from './errors.js';

/** An option error class whose factory is fixed, as `withOptionProblem(Base, factory)` makes: its callers leave `factory` out. */
export type FactoryOptionErrorClass = new (problem: Omit<OptionProblem, 'factory'> & { factory?: string }) => EngramError;

/** What {@link checkOptionsOfKind} checks against. */
export interface OptionsOfKind {
  /** The factory's kind, e.g. `expire-span`: `options.kind`, when present, must equal it. */
  kind: string;
  /** A short valid options object for the message, e.g. `{ maxSpan: 1024, ramp: 32 }`. */
  example: string;
  /** What saves configs of this kind, e.g. `policy`: the fix reads "This config was saved by another policy; ...". */
  savedBy: string;
}

/**
 * Throws `errorClass` unless `options` is an object (option `options`: `must be an object such as <example>`) whose
 * `kind`, when present, is `kind` (option `kind`: `must be "<kind>" (or absent)`, with the fix "This config was saved
 * by another <savedBy>; recreate it with that <savedBy>'s factory.").
 */
export function checkOptionsOfKind(errorClass: FactoryOptionErrorClass, options: unknown, expected: OptionsOfKind): void {
  if (typeof options !== 'object' || options === null) {
    throw new errorClass({ option: 'options', expected: `an object such as ${expected.example}`, actual: describeValue(options) });
  }
  const { kind } = options as { kind?: unknown };
  if (kind !== undefined && kind !== expected.kind) {
    throw new errorClass({
      option: 'kind',
      expected: `"${expected.kind}" (or absent)`,
      actual: describeValue(kind),
      fix: `This config was saved by another ${expected.savedBy}; recreate it with that ${expected.savedBy}'s factory.`,
    });
  }
}
