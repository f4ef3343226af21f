// The two detailed error shapes every package shares: a bad parameter of an operation and a bad option of a factory, with one message format each.
import { describeValue } from './describe-value.js';
import type { EngramErrorOptions, ErrorClass } from './errors.js';

/** What was wrong with one value: what it must be, what it was, and (optionally) how to fix it. */
export interface ValueProblem {
  /** What the value must be, e.g. `a float32 tensor [batch, keys]`. */
  expected: string;
  /** What it was: a string is printed as given (already rendered, e.g. `float32 [3]`), any other value by `describeValue`. */
  actual: unknown;
  /** A sentence saying how to fix it, appended to the message. */
  fix?: string;
}

/** A parameter of an operation that was rejected: `{ operation: 'relShift', parameter: 'scores', expected, actual, fix? }`. */
export interface ParameterProblem extends ValueProblem {
  /** The operation (function or method) that rejected the argument, e.g. `relShift`. */
  operation: string;
  /** The parameter name, e.g. `scores`. */
  parameter: string;
}

/** An option of a factory that was rejected: `{ factory: 'createConvCompressor', option: 'rate', expected, actual, fix? }`. */
export interface OptionProblem extends ValueProblem {
  /** The factory (or config section) the option was given to, e.g. `createConvCompressor`. */
  factory: string;
  /** The option name, e.g. `rate`. */
  option: string;
}

function problemText(where: string, what: string, problem: ValueProblem): string {
  const actual = typeof problem.actual === 'string' ? problem.actual : describeValue(problem.actual);
  const fix = problem.fix === undefined ? '' : ` ${problem.fix}`;
  return `${where}: ${what} must be ${problem.expected}, got ${actual}.${fix}`;
}

/** `<operation>: parameter "<parameter>" must be <expected>, got <actual>. <fix>` */
export function parameterProblemMessage(problem: ParameterProblem): string {
  return problemText(problem.operation, `parameter "${problem.parameter}"`, problem);
}

/** `<factory>: option "<option>" must be <expected>, got <actual>. <fix>` */
export function optionProblemMessage(problem: OptionProblem): string {
  return problemText(problem.factory, `option "${problem.option}"`, problem);
}

/**
 * A subclass of a package's error base whose constructor takes a {@link ParameterProblem} and keeps `operation` and
 * `parameter` as fields; the package names its own class and keeps its base in the chain (so
 * `KernelsError.isInstance(error)` stays true):
 *
 * ```ts
 * export class InvalidArgumentError extends withParameterProblem(KernelsError) {
 *   override readonly name = 'InvalidArgumentError';
 * }
 * ```
 */
export function withParameterProblem<Base extends ErrorClass>(base: Base): ParameterProblemClass<Base> {
  abstract class ParameterProblemError extends base {
    /** The operation that rejected the argument. */
    readonly operation: string;
    /** The parameter name. */
    readonly parameter: string;
    // TypeScript's rule for mixins: the constructor takes `...args: any[]`; the public signature is the cast below.
    constructor(...args: any[]) {
      const [problem, options] = args as [ParameterProblem, EngramErrorOptions | undefined];
      super(parameterProblemMessage(problem), options);
      this.operation = problem.operation;
      this.parameter = problem.parameter;
    }
  }
  return ParameterProblemError as unknown as ParameterProblemClass<Base>;
}

/** The class {@link withParameterProblem} returns: the base's statics, a constructor of a {@link ParameterProblem}, `operation` and `parameter` fields. */
export type ParameterProblemClass<Base extends ErrorClass> = Pick<Base, keyof Base> &
  (abstract new (problem: ParameterProblem, options?: EngramErrorOptions) => InstanceType<Base> & { readonly operation: string; readonly parameter: string });

/**
 * As {@link withParameterProblem}, for a rejected option of a factory: the constructor takes an {@link OptionProblem}
 * and keeps `factory` and `option` as fields. A package whose options all belong to one factory names it once here,
 * and its callers leave `factory` out:
 *
 * ```ts
 * export class ExpireSpanOptionError extends withOptionProblem(ExpireSpanError, 'createExpireSpanPolicy') {
 *   override readonly name = 'ExpireSpanOptionError';
 * }
 * ```
 */
export function withOptionProblem<Base extends ErrorClass>(base: Base): OptionProblemClass<Base, OptionProblem>;
export function withOptionProblem<Base extends ErrorClass>(base: Base, factory: string): OptionProblemClass<Base, Omit<OptionProblem, 'factory'> & { factory?: string }>;
export function withOptionProblem<Base extends ErrorClass>(base: Base, defaultFactory?: string): unknown {
  abstract class OptionProblemError extends base {
    /** The factory the option was given to. */
    readonly factory: string;
    /** The option name. */
    readonly option: string;
    // TypeScript's rule for mixins: the constructor takes `...args: any[]`; the public signature is the cast below.
    constructor(...args: any[]) {
      const [given, options] = args as [Omit<OptionProblem, 'factory'> & { factory?: string }, EngramErrorOptions | undefined];
      const problem: OptionProblem = { ...given, factory: given.factory ?? defaultFactory ?? 'options' };
      super(optionProblemMessage(problem), options);
      this.factory = problem.factory;
      this.option = problem.option;
    }
  }
  return OptionProblemError;
}

/** The class {@link withOptionProblem} returns: the base's statics, a constructor of `Problem`, `factory` and `option` fields. */
export type OptionProblemClass<Base extends ErrorClass, Problem> = Pick<Base, keyof Base> &
  (abstract new (problem: Problem, options?: EngramErrorOptions) => InstanceType<Base> & { readonly factory: string; readonly option: string });
