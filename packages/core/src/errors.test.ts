// Tests of EngramError and namedError: stable names, cause, and isInstance within one copy and across two copies of a module.
import { describe, expect, test, vi } from 'vitest';
import { EngramError, namedError } from './errors.js';

class ShelfError extends EngramError {
  override readonly name: string = 'ShelfError';
}
class FullShelfError extends ShelfError {
  override readonly name = 'FullShelfError';
}
class OtherError extends EngramError {
  override readonly name = 'OtherError';
}

describe('EngramError', () => {
  test('keeps the message and a stable name, and is an Error', () => {
    const error = new FullShelfError('the shelf is full: remove a book first');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('FullShelfError');
    expect(error.message).toBe('the shelf is full: remove a book first');
    expect(String(error)).toBe('FullShelfError: the shelf is full: remove a book first');
    expect(new EngramError('x').name).toBe('EngramError');
  });

  test('passes cause on only when one is given', () => {
    const reason = new Error('disk');
    expect(new ShelfError('failed', { cause: reason }).cause).toBe(reason);
    expect('cause' in new ShelfError('failed')).toBe(false);
    expect('cause' in new ShelfError('failed', { cause: undefined })).toBe(false);
  });

  test('isInstance follows the class chain within one copy', () => {
    const full = new FullShelfError('full');
    expect(FullShelfError.isInstance(full)).toBe(true);
    expect(ShelfError.isInstance(full)).toBe(true);
    expect(EngramError.isInstance(full)).toBe(true);
    expect(OtherError.isInstance(full)).toBe(false);
    expect(FullShelfError.isInstance(new ShelfError('shelf'))).toBe(false);
  });

  test('isInstance rejects non-errors and plain errors', () => {
    for (const value of [null, undefined, 1, 'ShelfError', {}, { name: 'ShelfError' }, new Error('plain')]) {
      expect(ShelfError.isInstance(value)).toBe(false);
      expect(EngramError.isInstance(value)).toBe(false);
    }
  });

  test('isInstance recognises an error made by another copy of the module, where instanceof does not', async () => {
    vi.resetModules();
    const copy = (await import('./errors.js')) as typeof import('./errors.js');
    expect(copy.EngramError).not.toBe(EngramError);
    class CopiedShelfError extends copy.EngramError {
      override readonly name: string = 'ShelfError';
    }
    // The copy's class is named like ours, as a second installed copy of a package would be.
    Object.defineProperty(CopiedShelfError, 'name', { value: 'ShelfError' });
    const foreign = new CopiedShelfError('from the other copy');
    expect(foreign instanceof ShelfError).toBe(false);
    expect(foreign instanceof EngramError).toBe(false);
    expect(ShelfError.isInstance(foreign)).toBe(true);
    expect(EngramError.isInstance(foreign)).toBe(true);
    expect(FullShelfError.isInstance(foreign)).toBe(false);
    expect(OtherError.isInstance(foreign)).toBe(false);
    // And the other way round.
    expect(copy.EngramError.isInstance(new FullShelfError('ours'))).toBe(true);
    expect(CopiedShelfError.isInstance(new FullShelfError('ours'))).toBe(true);
  });
});

/** A named leaf made by the factory, as the packages declare theirs. */
class EmptyShelfError extends namedError(ShelfError, 'EmptyShelfError') {}

describe('namedError', () => {
  test('gives the declared class its stable name, message and cause, and keeps the chain', () => {
    const reason = new Error('nothing left');
    const error = new EmptyShelfError('the shelf is empty: add a book first', { cause: reason });
    const name: 'EmptyShelfError' = error.name;
    expect(name).toBe('EmptyShelfError');
    expect(EmptyShelfError.name).toBe('EmptyShelfError');
    expect(String(error)).toBe('EmptyShelfError: the shelf is empty: add a book first');
    expect(error.cause).toBe(reason);
    expect('cause' in new EmptyShelfError('empty')).toBe(false);
    expect(error).toBeInstanceOf(EmptyShelfError);
    expect(error).toBeInstanceOf(ShelfError);
    expect(error).toBeInstanceOf(EngramError);
    expect(Object.getOwnPropertyDescriptor(error, 'name')).toEqual({ value: 'EmptyShelfError', writable: true, enumerable: true, configurable: true });
  });

  test('isInstance follows the chain, within one copy and across copies', async () => {
    const empty = new EmptyShelfError('empty');
    expect(EmptyShelfError.isInstance(empty)).toBe(true);
    expect(ShelfError.isInstance(empty)).toBe(true);
    expect(FullShelfError.isInstance(empty)).toBe(false);
    expect(EmptyShelfError.isInstance(new ShelfError('shelf'))).toBe(false);
    vi.resetModules();
    const copy = (await import('./errors.js')) as typeof import('./errors.js');
    class CopiedShelfError extends copy.EngramError {
      override readonly name: string = 'ShelfError';
    }
    Object.defineProperty(CopiedShelfError, 'name', { value: 'ShelfError' });
    class CopiedEmptyShelfError extends copy.namedError(CopiedShelfError, 'EmptyShelfError') {}
    Object.defineProperty(CopiedEmptyShelfError, 'name', { value: 'EmptyShelfError' });
    const foreign = new CopiedEmptyShelfError('from the other copy');
    expect(foreign instanceof EmptyShelfError).toBe(false);
    expect(EmptyShelfError.isInstance(foreign)).toBe(true);
    expect(ShelfError.isInstance(foreign)).toBe(true);
    expect(FullShelfError.isInstance(foreign)).toBe(false);
    expect(CopiedEmptyShelfError.isInstance(empty)).toBe(true);
  });

  test('the declared class can be subclassed, and a subclass of its subclass is recognised by both', () => {
    class VeryEmptyShelfError extends EmptyShelfError {
      readonly shelf: number;
      constructor(shelf: number) {
        super(`shelf ${shelf} is empty`);
        this.shelf = shelf;
      }
    }
    const error = new VeryEmptyShelfError(3);
    expect(error.name).toBe('EmptyShelfError');
    expect(error.shelf).toBe(3);
    expect(EmptyShelfError.isInstance(error)).toBe(true);
    expect(VeryEmptyShelfError.isInstance(error)).toBe(true);
    expect(VeryEmptyShelfError.isInstance(new EmptyShelfError('empty'))).toBe(false);
  });
});
