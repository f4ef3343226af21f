// The variable-tracking task (SPEC 8): programs over a few variables with assignments, increments and prints; the printed values are scored.
import { InvalidArgumentError } from '../errors.js';
import { defineLongRangeTask, type LongRangeTask } from './types.js';

/** Parameters of variable-tracking. */
export interface VariableTrackingParameters {
  /** Number of variables, named a, b, c, ... (default 4, at most 26). */
  variables?: number;
  /** Values are integers modulo this (default 10, so values are digits). */
  modulus?: number;
  /** Statements per program, including the first assignment of every variable (default 48). */
  statements?: number;
  /** Chance that a later statement is an assignment `x = v ;` (default 0.2). */
  assignProbability?: number;
  /** Chance that a later statement is an increment `x += v ;` (default 0.5); the rest are prints. */
  incrementProbability?: number;
}

const DEFAULTS: Required<VariableTrackingParameters> = {
  variables: 4,
  modulus: 10,
  statements: 48,
  assignProbability: 0.2,
  incrementProbability: 0.5,
};

/**
 * Variable tracking. A program is `<start>` then S statements of exactly 4 tokens:
 * - assignment `x = v ;` (v uniform in 0..M-1),
 * - increment `x += v ;` (v uniform in 1..M-1, the value becomes (x + v) mod M),
 * - print `print x -> v` where v is x's current value: the labelled token.
 * The first `variables` statements assign every variable in order (so every print is
 * defined); later statements pick a variable uniformly and a kind with the given
 * probabilities. Ids: `<start>`, `var:a`.., `=`, `+=`, `;`, `print`, `->`, `value:0..M-1`.
 * To answer a print the model must recall the variable's last assignment or print and every
 * increment since, which may lie many statements back.
 */
export function createVariableTrackingTask(parameters: VariableTrackingParameters = {}): LongRangeTask<VariableTrackingParameters> {
  const resolved = { ...DEFAULTS, ...parameters };
  const { variables, modulus, statements, assignProbability, incrementProbability } = resolved;
  if (!Number.isSafeInteger(variables) || variables < 1 || variables > 26) throw new InvalidArgumentError('variables', 'an integer in [1, 26]', variables);
  if (!Number.isSafeInteger(modulus) || modulus < 2) throw new InvalidArgumentError('modulus', 'an integer >= 2', modulus);
  if (!Number.isSafeInteger(statements) || statements < variables) {
    throw new InvalidArgumentError('statements', `an integer >= variables (${variables})`, statements);
  }
  if (!(assignProbability >= 0 && incrementProbability >= 0 && assignProbability + incrementProbability < 1)) {
    throw new InvalidArgumentError(
      'assignProbability + incrementProbability',
      'non-negative numbers summing to less than 1 (the rest are prints)',
      [assignProbability, incrementProbability],
    );
  }
  const names = ['<start>'];
  const variableBase = names.length;
  for (let index = 0; index < variables; index += 1) names.push(`var:${String.fromCharCode(97 + index)}`);
  const assignId = names.length;
  names.push('=');
  const incrementId = names.length;
  names.push('+=');
  const endId = names.length;
  names.push(';');
  const printId = names.length;
  names.push('print');
  const arrowId = names.length;
  names.push('->');
  const valueBase = names.length;
  for (let value = 0; value < modulus; value += 1) names.push(`value:${value}`);
  const episodeLength = 1 + 4 * statements;

  return defineLongRangeTask({
    name: 'variable-tracking',
    parameters: resolved,
    tokenNames: names,
    episodeLength,
    sample(random, episode) {
      const values = new Array<number>(variables).fill(0);
      for (let statement = 0; statement < statements; statement += 1) {
        const variable = statement < variables ? statement : random.nextInt(variables);
        const draw = statement < variables ? 0 : random.nextFloat();
        if (statement < variables || draw < assignProbability) {
          const value = random.nextInt(modulus);
          values[variable] = value;
          episode.write(variableBase + variable, assignId, valueBase + value, endId);
        } else if (draw < assignProbability + incrementProbability) {
          const value = 1 + random.nextInt(modulus - 1);
          values[variable] = ((values[variable] as number) + value) % modulus;
          episode.write(variableBase + variable, incrementId, valueBase + value, endId);
        } else {
          episode.write(printId, variableBase + variable, arrowId);
          episode.writeLabelled(valueBase + (values[variable] as number));
        }
      }
    },
    layout: () => [
      `variable-tracking over ${variables} variables modulo ${modulus}, E = ${episodeLength} tokens:`,
      `  <start> then ${statements} statements of 4 tokens: "x = v ;" | "x += v ;" | "print x -> v" (v labelled)`,
      `  the first ${variables} statements assign every variable; then assign ${assignProbability}, increment ${incrementProbability}, print ${(1 - assignProbability - incrementProbability).toFixed(2)}`,
    ],
  });
}
