// The run cache: stable identities, reuse across invocations, and what happens to unreadable or foreign entries.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RunMeasurement } from './measure.js';
import { runBench } from './runner.js';
import { openRunCache, stableJson } from './run-cache.js';

const sink = { write: () => true } as unknown as NodeJS.WritableStream;

const fakeRun = (name: string): RunMeasurement =>
  ({ name, kind: 'txl', parameters: 3, temporalRange: 8, steps: [{ step: 1, taskLoss: 2.5, memorySlots: 4, seconds: 0.1 }], evaluations: [], inspection: {} }) as unknown as RunMeasurement;

describe('openRunCache', () => {
  it('stores and reuses by identity (key order does not matter), keeps suites and modes apart, skips foreign and corrupt files', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'engram-run-cache-'));
    const warnings: string[] = [];
    const cache = await openRunCache(directory, { suite: 'lm', mode: 'full' }, (line) => warnings.push(line));
    const identity = { name: 'Expire-Span', config: { a: 1, b: { c: 2, d: 3 } }, data: { corpus: 'x' } };
    expect(await cache.load(identity)).toBeNull();
    await cache.save(identity, fakeRun('Expire-Span'));
    const reordered = { data: { corpus: 'x' }, config: { b: { d: 3, c: 2 }, a: 1 }, name: 'Expire-Span' };
    expect(stableJson(reordered)).toBe(stableJson(identity));
    expect(await cache.load(reordered)).toEqual(fakeRun('Expire-Span'));
    expect(await cache.load({ ...identity, config: { a: 2, b: { c: 2, d: 3 } } })).toBeNull();
    expect(cache.counts).toEqual({ reused: 1, stored: 1 });
    const otherMode = await openRunCache(directory, { suite: 'lm', mode: 'quick' }, () => {});
    expect(await otherMode.load(identity)).toBeNull();
    // A truncated file (a crash while writing) is reported and trained again.
    const [file] = readdirSync(directory);
    expect(file).toMatch(/^lm-full-expire-span-[0-9a-f]{16}\.json$/);
    writeFileSync(join(directory, file as string), '{"version": 1, "ident');
    expect(await cache.load(identity)).toBeNull();
    expect(warnings.join('\n')).toMatch(/is not valid JSON.*training the run again/);
    // A file whose identity differs (a hash collision, or a file copied in) is not trusted.
    writeFileSync(join(directory, file as string), JSON.stringify({ version: 1, identity: { name: 'other' }, run: fakeRun('other') }));
    expect(await cache.load(identity)).toBeNull();
  });
});

describe('runBench --cache', () => {
  it('a second invocation trains nothing, reuses every run and reports the same rows', async () => {
    const cacheDirectory = mkdtempSync(join(tmpdir(), 'engram-run-cache-bench-'));
    const run = async () => {
      const outDirectory = mkdtempSync(join(tmpdir(), 'engram-run-cache-out-'));
      await runBench({ suites: ['compressors'], mode: 'tiny-test', outDirectory, backend: 'wasm', stdout: sink, log: () => {}, cacheDirectory });
      return JSON.parse(readFileSync(join(outDirectory, 'compressors.json'), 'utf8')) as { models: unknown[]; notes: string[] };
    };
    const first = await run();
    const stored = readdirSync(cacheDirectory).length;
    expect(stored).toBeGreaterThan(4);
    expect(first.notes.join('\n')).toContain(`0 training run(s) reused from earlier invocations (their times were measured then), ${stored} trained now`);
    const second = await run();
    expect(second.notes.join('\n')).toContain(`${stored} training run(s) reused from earlier invocations (their times were measured then), 0 trained now`);
    expect(second.models).toEqual(first.models);
    expect(readdirSync(cacheDirectory).length).toBe(stored);
  });
});
