// @engram/core (browser-safe): the pieces every Engram package shares: the error base class, its named-subclass factory and its two detailed shapes (a bad parameter, a bad option), the options-of-a-kind and number-option checks, describeValue, a seeded generator with a savable state. The atomic file writer and isProcessAlive: '@engram/core/node'.
export { EngramError, namedError } from './errors.js';
export type { EngramErrorOptions, ErrorClass, NamedErrorClass } from './errors.js';
export { describeValue } from './describe-value.js';
export { optionProblemMessage, parameterProblemMessage, withOptionProblem, withParameterProblem } from './detailed-errors.js';
export type { OptionProblem, OptionProblemClass, ParameterProblem, ParameterProblemClass, ValueProblem } from './detailed-errors.js';
export { checkOptionsOfKind, finiteNumberOption } from './option-checks.js';
export type { FactoryOptionErrorClass, FiniteNumberBound, OptionsOfKind } from './option-checks.js';
export { createSeededRandom, SeededRandomStateError } from './random.js';
export type { SeededRandom, SeededRandomState } from './random.js';
