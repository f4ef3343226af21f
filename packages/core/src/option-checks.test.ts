// Tests of checkOptionsOfKind (an object whose kind, when given, is the factory's own; the two messages and their fields) and finiteNumberOption.
import { describe, expect, test } from 'vitest';
import { withOptionProblem } from './detailed-errors.js';
import { EngramError } from './errors.js';
import { checkOptionsOfKind, finiteNumberOption } from './option-checks.js';

class ShelfError extends EngramError {
  override readonly name: string = 'ShelfError';
}
class ShelfOptionError extends withOptionProblem(ShelfError, 'createShelf') {
  override readonly name = 'ShelfOptionError';
}

const expected = { kind: 'shelf', example: '{ rows: 3 }', savedBy: 'store' };

/** The error `run` throws, or undefined. */
function thrown(run: () => void): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('checkOptionsOfKind', () => {
  test('accepts an object without a kind or with its own kind', () => {
    expect(() => checkOptionsOfKind(ShelfOptionError, {}, expected)).not.toThrow();
    expect(() => checkOptionsOfKind(ShelfOptionError, { kind: 'shelf', rows: 3 }, expected)).not.toThrow();
  });

  test.each([null, undefined, 3, 'shelf'])('refuses %j: option "options", expecting an object such as the example', (options) => {
    const error = thrown(() => checkOptionsOfKind(ShelfOptionError, options, expected));
    expect(error).toBeInstanceOf(ShelfOptionError);
    expect(ShelfError.isInstance(error)).toBe(true);
    const { option, factory, message } = error as ShelfOptionError;
    expect([factory, option]).toEqual(['createShelf', 'options']);
    const shown = typeof options === 'string' ? JSON.stringify(options) : String(options);
    expect(message).toBe(`createShelf: option "options" must be an object such as { rows: 3 }, got ${shown}.`);
  });

  test('refuses another kind: option "kind", with the fix naming what saved it', () => {
    const error = thrown(() => checkOptionsOfKind(ShelfOptionError, { kind: 'box' }, expected)) as ShelfOptionError;
    expect(error).toBeInstanceOf(ShelfOptionError);
    expect(error.option).toBe('kind');
    expect(error.message).toBe(
      'createShelf: option "kind" must be "shelf" (or absent), got "box". This config was saved by another store; recreate it with that store\'s factory.',
    );
    expect((thrown(() => checkOptionsOfKind(ShelfOptionError, { kind: null }, expected)) as ShelfOptionError).message).toContain('got null.');
  });
});

describe('finiteNumberOption', () => {
  test('returns the value, or the fallback when it is undefined', () => {
    expect(finiteNumberOption(ShelfOptionError, 'rows', 0, { atLeast: 0 })).toBe(0);
    expect(finiteNumberOption(ShelfOptionError, 'rows', 2.5, { above: 0 })).toBe(2.5);
    expect(finiteNumberOption(ShelfOptionError, 'rows', undefined, { atLeast: 0, fallback: 7 })).toBe(7);
  });

  test.each([
    [-1, { atLeast: 0 }, 'must be a finite number >= 0, got -1.'],
    [0, { above: 0 }, 'must be a finite number > 0, got 0.'],
    [Number.NaN, { atLeast: 0 }, 'must be a finite number >= 0, got NaN.'],
    [Number.POSITIVE_INFINITY, { above: 1 }, 'must be a finite number > 1, got Infinity.'],
    ['3', { atLeast: 0, fallback: 1 }, 'must be a finite number >= 0, got "3".'],
    [null, { atLeast: 0, fallback: 1 }, 'must be a finite number >= 0, got null.'],
    [undefined, { above: 0 }, 'must be a finite number > 0, got undefined.'],
  ] as const)('refuses %j with %j', (value, bound, tail) => {
    const error = thrown(() => finiteNumberOption(ShelfOptionError, 'rows', value, bound)) as ShelfOptionError;
    expect(error).toBeInstanceOf(ShelfOptionError);
    expect([error.factory, error.option]).toEqual(['createShelf', 'rows']);
    expect(error.message).toBe(`createShelf: option "rows" ${tail}`);
  });
});
