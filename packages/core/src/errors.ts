// The base class of every Engram error (a stable `name`, an optional `cause`, an `isInstance` check that works across duplicate copies of a package) and the factory of its named subclasses.

/** Options accepted by every Engram error. */
export interface EngramErrorOptions {
  /** The error (or value) that led to this one; kept as the standard `Error.cause`. */
  cause?: unknown;
}

/**
 * Global-registry symbol every Engram error carries; its value lists the class names of the error's
 * class chain, most derived first (e.g. `['DownloadError', 'DatasetError', 'EngramError']`).
 * `Symbol.for` returns the same symbol in every copy of this package, so two installed copies of
 * `@engram/datasets` (or of this package) still recognise each other's errors.
 */
const ERROR_LINEAGE = Symbol.for('@engram/core.error-lineage');

/** The class names from `target` up to (and including) {@link EngramError}. */
function lineageOf(target: unknown): readonly string[] {
  const names: string[] = [];
  for (let current = target; typeof current === 'function'; current = Object.getPrototypeOf(current)) {
    const { name } = current as { name: string };
    // A class made by `namedError` carries the name of the class declared on it: list that name once.
    if (names[names.length - 1] !== name) names.push(name);
    if (current === EngramError) break;
  }
  return Object.freeze(names);
}

/**
 * Base class of every error thrown on purpose by an Engram package. A subclass sets its stable
 * `name` (equal to its class name) and writes a message that names the value and the fix:
 *
 * ```ts
 * class TooLongError extends EngramError {
 *   override readonly name = 'TooLongError';
 * }
 * ```
 *
 * (A class that adds nothing but its name is shorter as `class TooLongError extends namedError(EngramError, 'TooLongError') {}`.)
 *
 * Check errors with `SomeError.isInstance(error)` rather than `instanceof`: it is also true for an
 * error made by another installed copy of the same package (two versions side by side, a bundled
 * and an installed copy), which `instanceof` misses.
 */
export class EngramError extends Error {
  override readonly name: string = 'EngramError';

  constructor(message: string, options: EngramErrorOptions = {}) {
    // Pass `cause` on only when there is one, so `'cause' in error` stays false otherwise.
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    Object.defineProperty(this, ERROR_LINEAGE, { value: lineageOf(new.target), enumerable: false });
  }

  /**
   * True when `value` is an error of the class this is called on (or of a subclass), made by this
   * copy of its package or by any other copy: `DatasetError.isInstance(error)`.
   * Across copies the check compares class names, so a bundle that renames classes (minifiers
   * without `keepNames`) is recognised by its own copy only.
   */
  static isInstance<T extends abstract new (...args: never[]) => EngramError>(this: T, value: unknown): value is InstanceType<T> {
    if (value instanceof this) return true;
    if (typeof value !== 'object' || value === null) return false;
    const lineage = (value as { [ERROR_LINEAGE]?: unknown })[ERROR_LINEAGE];
    return Array.isArray(lineage) && lineage.includes(this.name);
  }
}

/** The constructor of an Engram error class: `(message, options?)` for {@link EngramError}, or a subclass's own parameters. */
export type ErrorClass = abstract new (...args: any[]) => EngramError;

/** The class {@link namedError} returns: the base's statics and constructor, and an instance `name` of the literal type `Name`. */
export type NamedErrorClass<Base extends ErrorClass, Name extends string> = Pick<Base, keyof Base> &
  (abstract new (...args: ConstructorParameters<Base>) => InstanceType<Base> & { readonly name: Name });

/**
 * The base of a subclass of `base` whose stable `name` is `name` (a readonly field of that literal type), for
 * the many error classes that add nothing else; the package declares the class itself, so its name, doc
 * comment, `instanceof`, `isInstance` and subclassing are those of an ordinary class:
 *
 * ```ts
 * /** A memory state has the wrong shape. *\/
 * export class MemoryStateError extends namedError(MemoryError, 'MemoryStateError') {}
 * ```
 *
 * `name` must be the declared class's own name (the cross-copy `isInstance` compares class names).
 */
export function namedError<Base extends ErrorClass, const Name extends string>(base: Base, name: Name): NamedErrorClass<Base, Name> {
  abstract class Named extends base {
    override readonly name: Name = name;
  }
  Object.defineProperty(Named, 'name', { value: name });
  return Named as unknown as NamedErrorClass<Base, Name>;
}
