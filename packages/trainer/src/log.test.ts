// Tests of the JSON-lines log: one record per line, non-finite numbers, and repair of a cut-off last line on resume.
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsonLinesWriter, readJsonLines } from './log.js';
import { temporaryFolderEachTest } from './testing/runs.js';

describe('JSON-lines log', () => {
  const folder = temporaryFolderEachTest('engram-log-');

  it('writes one record per line and reads non-finite numbers back', () => {
    const path = join(folder(), 'nested', 'train.jsonl');
    const writer = JsonLinesWriter.open(path, { append: false });
    writer.write({ type: 'header', seed: 1 });
    writer.write({ type: 'step', step: 1, loss: Number.NaN, gradientNorm: Number.POSITIVE_INFINITY, note: 'ok' });
    writer.close();
    expect(readFileSync(path, 'utf8').split('\n')).toHaveLength(3);
    const { records, truncatedTail } = readJsonLines(path);
    expect(truncatedTail).toBe(false);
    expect(records[0]).toEqual({ type: 'header', seed: 1 });
    expect(records[1]?.loss).toBeNaN();
    expect(records[1]?.gradientNorm).toBe(Number.POSITIVE_INFINITY);
    expect(records[1]?.note).toBe('ok');
    expect(() => writer.write({})).toThrow(/closed/);
  });

  it('drops a cut-off last line when reading and repairs it when appending', () => {
    const path = join(folder(), 'train.jsonl');
    const writer = JsonLinesWriter.open(path, { append: false });
    writer.write({ step: 1 });
    writer.close();
    appendFileSync(path, '{"step": 2, "lo'); // a crash in the middle of a record
    expect(readJsonLines(path)).toEqual({ records: [{ step: 1 }], truncatedTail: true });
    const resumed = JsonLinesWriter.open(path, { append: true });
    expect(resumed.repairedBytes).toBe('{"step": 2, "lo'.length);
    resumed.write({ step: 2 });
    resumed.close();
    expect(readJsonLines(path)).toEqual({ records: [{ step: 1 }, { step: 2 }], truncatedTail: false });
  });

  it('replaces the file unless appending, and reports corrupt middle lines', () => {
    const path = join(folder(), 'train.jsonl');
    appendFileSync(path, 'garbage\n{"a":1}\n');
    expect(() => readJsonLines(path)).toThrow(/line 1/);
    const writer = JsonLinesWriter.open(path, { append: false });
    writer.write({ b: 2 });
    writer.close();
    expect(readJsonLines(path).records).toEqual([{ b: 2 }]);
    const whole = JsonLinesWriter.open(join(folder(), 'no-newline.jsonl'), { append: true });
    whole.close();
    appendFileSync(join(folder(), 'only-partial.jsonl'), '{"x"');
    const repaired = JsonLinesWriter.open(join(folder(), 'only-partial.jsonl'), { append: true });
    expect(repaired.repairedBytes).toBe(4);
    repaired.close();
    expect(readFileSync(join(folder(), 'only-partial.jsonl'), 'utf8')).toBe('');
  });
});
