// Tests of the detailed error shapes: message format, fields, the package base kept in the chain, isInstance across copies.
import { describe, expect, test } from 'vitest';
import { optionProblemMessage, parameterProblemMessage, withOptionProblem, withParameterProblem } from './detailed-errors.js';
import { EngramError } from './errors.js';

class ShelfError extends EngramError {
  override readonly name: string = 'ShelfError';
}
class BadShelfArgumentError extends withParameterProblem(ShelfError) {
  override readonly name = 'BadShelfArgumentError';
}
class BadShelfOptionError extends withOptionProblem(ShelfError) {
  override readonly name = 'BadShelfOptionError';
}
class BadBookOptionError extends withOptionProblem(ShelfError, 'createBook') {
  override readonly name = 'BadBookOptionError';
}

describe('parameter problems', () => {
  test('message names the operation, the parameter, what was expected, what came, and the fix', () => {
    const error = new BadShelfArgumentError({ operation: 'placeBook', parameter: 'width', expected: 'a number > 0', actual: 'float32 [3]', fix: 'Pass the width in cm.' });
    expect(error.message).toBe('placeBook: parameter "width" must be a number > 0, got float32 [3]. Pass the width in cm.');
    expect(error.operation).toBe('placeBook');
    expect(error.parameter).toBe('width');
    expect(error.name).toBe('BadShelfArgumentError');
    expect(parameterProblemMessage({ operation: 'o', parameter: 'p', expected: 'e', actual: -1 })).toBe('o: parameter "p" must be e, got -1.');
  });

  test('a string is printed as given, any other value through describeValue', () => {
    expect(parameterProblemMessage({ operation: 'o', parameter: 'p', expected: 'e', actual: 'as is' })).toContain('got as is.');
    expect(parameterProblemMessage({ operation: 'o', parameter: 'p', expected: 'e', actual: { a: 1 } })).toContain('got {"a":1}.');
    expect(parameterProblemMessage({ operation: 'o', parameter: 'p', expected: 'e', actual: Number.NaN })).toContain('got NaN.');
  });

  test('keeps the package base in the chain and the cause', () => {
    const cause = new Error('disk');
    const error = new BadShelfArgumentError({ operation: 'o', parameter: 'p', expected: 'e', actual: 'a' }, { cause });
    expect(error).toBeInstanceOf(ShelfError);
    expect(error).toBeInstanceOf(Error);
    expect(ShelfError.isInstance(error)).toBe(true);
    expect(BadShelfArgumentError.isInstance(error)).toBe(true);
    expect(BadShelfOptionError.isInstance(error)).toBe(false);
    expect(error.cause).toBe(cause);
    expect('cause' in new BadShelfArgumentError({ operation: 'o', parameter: 'p', expected: 'e', actual: 'a' })).toBe(false);
  });

  test('isInstance recognises an error made by another copy of the package (same class names, other classes)', () => {
    const copy = (() => {
      // The same class names as above, as a second installed copy of the package would have.
      class ShelfError extends EngramError {
        override readonly name: string = 'ShelfError';
      }
      class BadShelfArgumentError extends withParameterProblem(ShelfError) {
        override readonly name = 'BadShelfArgumentError';
      }
      // The transform renames shadowing classes (ShelfError2): give them back the names a second copy would have.
      Object.defineProperty(ShelfError, 'name', { value: 'ShelfError' });
      Object.defineProperty(BadShelfArgumentError, 'name', { value: 'BadShelfArgumentError' });
      return { BadShelfArgumentError };
    })();
    const foreign = new copy.BadShelfArgumentError({ operation: 'o', parameter: 'p', expected: 'e', actual: 'a' });
    expect(foreign).not.toBeInstanceOf(BadShelfArgumentError);
    expect(BadShelfArgumentError.isInstance(foreign)).toBe(true);
    expect(ShelfError.isInstance(foreign)).toBe(true);
    expect(BadShelfOptionError.isInstance(foreign)).toBe(false);
  });
});

describe('option problems', () => {
  test('message names the factory and the option', () => {
    const error = new BadShelfOptionError({ factory: 'createShelf', option: 'rows', expected: 'an integer >= 1', actual: 0 });
    expect(error.message).toBe('createShelf: option "rows" must be an integer >= 1, got 0.');
    expect([error.factory, error.option]).toEqual(['createShelf', 'rows']);
    expect(optionProblemMessage({ factory: 'f', option: 'o', expected: 'e', actual: 'x', fix: 'Fix it.' })).toBe('f: option "o" must be e, got x. Fix it.');
  });

  test('a class made with a fixed factory fills it in, and a caller may still name another', () => {
    expect(new BadBookOptionError({ option: 'pages', expected: 'a number', actual: true }).message).toBe('createBook: option "pages" must be a number, got true.');
    const other = new BadBookOptionError({ factory: 'loadBook', option: 'pages', expected: 'a number', actual: null });
    expect(other.message).toBe('loadBook: option "pages" must be a number, got null.');
    expect(other.factory).toBe('loadBook');
    expect(ShelfError.isInstance(other)).toBe(true);
    expect(BadShelfOptionError.isInstance(other)).toBe(false);
  });
});
