// The checks of a factory's options shared by several factories: the options are an object whose kind (when given) is its own, and a number option is finite and within a bound.
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

/** The bound {@link finiteNumberOption} checks: `atLeast` (the value may equal it) or `above` (it may not), and the value an absent option takes. */
export type FiniteNumberBound = ({ atLeast: number; above?: never } | { above: number; atLeast?: never }) & {
  /** The value of an absent (`undefined`) option; without it, an absent option is refused. */
  fallback?: number;
};

/**
 * The value of a number option (or `bound.fallback` when it is `undefined`); throws `errorClass` for option `option`
 * (`must be a finite number >= <atLeast>` or `> <above>`, got the value as given) unless that is a finite number
 * within the bound: `finiteNumberOption(ExpireSpanOptionError, 'alpha', options.alpha, { atLeast: 0, fallback: 1e-6 })`.
 */
export function finiteNumberOption(errorClass: FactoryOptionErrorClass, option: string, value: unknown, bound: FiniteNumberBound): number {
  const actual = value === undefined ? bound.fallback : value;
  const inBound = (number: number): boolean => (bound.above === undefined ? number >= (bound.atLeast as number) : number > bound.above);
  if (typeof actual !== 'number' || !Number.isFinite(actual) || !inBound(actual)) {
    const expected = bound.above === undefined ? `a finite number >= ${bound.atLeast}` : `a finite number > ${bound.above}`;
    throw new errorClass({ option, expected, actual: describeValue(value) });
  }
  return actual;
}
