// describeValue: the short rendering of a received value that Engram's error messages print after "got".

/** Strings longer than this are cut and end in `...`. */
const MAXIMUM_STRING_LENGTH = 40;
/** Objects whose JSON is longer than this are summarised as `an object` instead. */
const MAXIMUM_JSON_LENGTH = 60;

/**
 * A short, one-line rendering of `value` for the "got ..." part of an error message:
 * `"abc"` (JSON-quoted, cut after 40 characters), `12`, `NaN`, `true`, `null`, `undefined`, `10n`,
 * `an array of 3 items`, `a Float32Array of 16 items`, `a function`, `Symbol(x)`, a small plain
 * object as its JSON (`{"maxSpan":-1}`), and `an object` (or `a Map`, `a Date`, ...) for anything larger.
 * Never throws, whatever the value (cyclic objects, throwing getters, revoked proxies).
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > MAXIMUM_STRING_LENGTH ? `${value.slice(0, MAXIMUM_STRING_LENGTH)}...` : value);
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    case 'function':
      return 'a function';
    default:
      return describeObject(value as object | null);
  }
}

function describeObject(value: object | null): string {
  if (value === null) return 'null';
  try {
    if (Array.isArray(value)) return `an array of ${items(value.length)}`;
    if (ArrayBuffer.isView(value)) {
      const length = 'length' in value ? Number(value.length) : value.byteLength;
      return `a ${value.constructor.name} of ${items(length)}`;
    }
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype === Object.prototype || prototype === null) {
      const json = JSON.stringify(value);
      if (json !== undefined && json.length <= MAXIMUM_JSON_LENGTH) return json;
      return 'an object';
    }
    const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === 'string' && name !== '' ? `${/^[AEIOU]/.test(name) ? 'an' : 'a'} ${name}` : 'an object';
  } catch {
    // Cyclic JSON, a throwing getter or a revoked proxy: say no more than what it is.
    return 'an object';
  }
}

function items(count: number): string {
  return `${count} ${count === 1 ? 'item' : 'items'}`;
}
