// Tests of describeValue: one rendering per kind of value, never a throw.
import { describe, expect, test } from 'vitest';
import { describeValue } from './describe-value.js';

describe('describeValue', () => {
  test('renders primitives', () => {
    expect(describeValue('abc')).toBe('"abc"');
    expect(describeValue('a"b')).toBe('"a\\"b"');
    expect(describeValue(12)).toBe('12');
    expect(describeValue(-0.5)).toBe('-0.5');
    expect(describeValue(Number.NaN)).toBe('NaN');
    expect(describeValue(Number.POSITIVE_INFINITY)).toBe('Infinity');
    expect(describeValue(true)).toBe('true');
    expect(describeValue(null)).toBe('null');
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(10n)).toBe('10n');
    expect(describeValue(Symbol('x'))).toBe('Symbol(x)');
    expect(describeValue(() => 1)).toBe('a function');
  });

  test('cuts long strings after 40 characters', () => {
    const long = 'x'.repeat(50);
    expect(describeValue(long)).toBe(`"${'x'.repeat(40)}..."`);
    expect(describeValue('y'.repeat(40))).toBe(`"${'y'.repeat(40)}"`);
  });

  test('summarises arrays and typed arrays by length', () => {
    expect(describeValue([1, 2])).toBe('an array of 2 items');
    expect(describeValue(['a'])).toBe('an array of 1 item');
    expect(describeValue([])).toBe('an array of 0 items');
    expect(describeValue(new Float32Array(16))).toBe('a Float32Array of 16 items');
    expect(describeValue(new DataView(new ArrayBuffer(3)))).toBe('a DataView of 3 items');
  });

  test('shows small plain objects as JSON and names everything else', () => {
    expect(describeValue({ maxSpan: -1 })).toBe('{"maxSpan":-1}');
    expect(describeValue(Object.create(null))).toBe('{}');
    expect(describeValue({ text: 'z'.repeat(80) })).toBe('an object');
    expect(describeValue(new Map())).toBe('a Map');
    expect(describeValue(new Error('e'))).toBe('an Error');
    expect(describeValue(new Date(0))).toBe('a Date');
  });

  test('never throws', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describeValue(cyclic)).toBe('an object');
    const throwing = {
      get boom(): never {
        throw new Error('getter');
      },
    };
    Object.defineProperty(throwing, 'boom', { enumerable: true });
    expect(describeValue(throwing)).toBe('an object');
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(describeValue(proxy)).toBe('an object');
  });
});
