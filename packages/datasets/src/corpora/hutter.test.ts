// Tests of enwik8/text8 on small fake zips in the real format (one member named enwik8 / text8), served from 127.0.0.1 or given as local files.
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptArchiveError, EmptyCorpusError, IntegrityError, InvalidArgumentError, MissingSplitError, SourceNotFoundError } from '../errors.js';
import { fakeText, makeTemporaryFolder, startTestServer, type TestServer } from '../test-support/server.js';
import { hutterSplitSizes, prepareEnwik8, prepareText8 } from './hutter.js';
import { KNOWN_FILES } from './registry.js';
import { readSplitBytes } from './split.js';

const enwik8 = fakeText(10_000, 11);
const text8 = new TextEncoder().encode('anarchism originated as a term of abuse '.repeat(50).slice(0, 2_000));
const enwik8Zip = zipSync({ enwik8 }, { level: 6 });
const text8Zip = zipSync({ text8 }, { level: 6 });

let server: TestServer;
let folder: { path: string; remove: () => Promise<void> };

beforeAll(async () => {
  server = await startTestServer({
    '/dc/enwik8.zip': enwik8Zip,
    '/dc/text8.zip': text8Zip,
    '/bad/enwik8.zip': enwik8Zip.subarray(0, 300),
    '/wrong/enwik8.zip': zipSync({ 'not-enwik8': enwik8 }),
  });
  folder = await makeTemporaryFolder();
});
afterAll(async () => {
  await server.close();
  await folder.remove();
});

describe('enwik8 / text8', () => {
  it('the default split of 100,000,000 bytes is exactly 90M / 5M / 5M, and the table has the published sizes', () => {
    expect(hutterSplitSizes(100_000_000)).toEqual([90_000_000, 5_000_000, 5_000_000]);
    const enwik8Entry = KNOWN_FILES.find((file) => file.corpus === 'enwik8');
    const text8Entry = KNOWN_FILES.find((file) => file.corpus === 'text8');
    expect(enwik8Entry?.sizeBytes).toBe(36_445_475);
    expect(text8Entry?.sizeBytes).toBe(31_344_016);
    expect(enwik8Entry?.members[0]).toEqual({ member: 'enwik8', sizeBytes: 100_000_000 });
    expect(text8Entry?.members[0]).toEqual({ member: 'text8', sizeBytes: 100_000_000 });
  });

  it('downloads enwik8.zip from the base URL into the cache folder, unpacks and splits it 90/5/5', async () => {
    const cacheDirectory = join(folder.path, 'cache-a');
    const progress: number[] = [];
    const corpus = await prepareEnwik8({
      cacheDirectory,
      baseUrl: `${server.origin}/dc`,
      archiveSize: enwik8Zip.length,
      unpackedSize: enwik8.length,
      onProgress: (event) => progress.push(event.receivedBytes),
      progressBar: false,
    });
    expect(progress[progress.length - 1]).toBe(enwik8Zip.length);
    expect((await stat(join(cacheDirectory, 'enwik8', 'enwik8.zip'))).size).toBe(enwik8Zip.length);
    expect((await stat(join(cacheDirectory, 'enwik8', 'enwik8'))).size).toBe(enwik8.length);
    expect(corpus.splits.train.byteLength).toBe(9_000);
    expect(corpus.splits.valid.byteLength).toBe(500);
    expect(corpus.splits.test.byteLength).toBe(500);
    const joined = new Uint8Array([...(await readSplitBytes(corpus.splits.train)), ...(await readSplitBytes(corpus.splits.valid)), ...(await readSplitBytes(corpus.splits.test))]);
    expect(Buffer.compare(Buffer.from(joined), Buffer.from(enwik8))).toBe(0);
    expect(corpus.recommendedTokenizer).toBe('byte');

    const requests = server.requests.length;
    await prepareEnwik8({ cacheDirectory, baseUrl: `${server.origin}/dc`, archiveSize: enwik8Zip.length, unpackedSize: enwik8.length, progressBar: false });
    expect(server.requests.length).toBe(requests);
  });

  it('applies custom split sizes and rejects sizes that do not add up', async () => {
    const cacheDirectory = join(folder.path, 'cache-b');
    const corpus = await prepareText8({ cacheDirectory, baseUrl: `${server.origin}/dc`, archiveSize: null, unpackedSize: null, splitSizes: [1_000, 600, 400], progressBar: false });
    expect([corpus.splits.train.byteLength, corpus.splits.valid.byteLength, corpus.splits.test.byteLength]).toEqual([1_000, 600, 400]);
    expect(new TextDecoder().decode(await readSplitBytes(corpus.splits.valid))).toBe(new TextDecoder().decode(text8.subarray(1_000, 1_600)));
    await expect(prepareText8({ cacheDirectory, unpackedSize: null, splitSizes: [1_000, 600, 401] })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('uses the ENGRAM_CACHE_DIR environment variable when no cache folder is given', async () => {
    const cacheDirectory = join(folder.path, 'cache-environment');
    const previous = process.env.ENGRAM_CACHE_DIR;
    process.env.ENGRAM_CACHE_DIR = cacheDirectory;
    try {
      await prepareText8({ baseUrl: `${server.origin}/dc`, archiveSize: null, unpackedSize: text8.length, progressBar: false });
      expect((await stat(join(cacheDirectory, 'text8', 'text8'))).size).toBe(text8.length);
    } finally {
      if (previous === undefined) delete process.env.ENGRAM_CACHE_DIR;
      else process.env.ENGRAM_CACHE_DIR = previous;
    }
  });

  it('rejects a zip of the wrong size (the known-size rule) and leaves nothing in the cache', async () => {
    const cacheDirectory = join(folder.path, 'cache-c');
    // Without archiveSize the real published size 36,445,475 applies, which the fake zip does not have.
    const error = await prepareEnwik8({ cacheDirectory, baseUrl: `${server.origin}/dc`, unpackedSize: null, progressBar: false }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as Error).message).toContain('36,445,475');
    expect(await readdir(join(cacheDirectory, 'enwik8'))).toEqual([]);
  });

  it('rejects a truncated zip, removes it from the cache, and leaves no unpacked file', async () => {
    const cacheDirectory = join(folder.path, 'cache-d');
    await expect(prepareEnwik8({ cacheDirectory, baseUrl: `${server.origin}/bad`, archiveSize: null, unpackedSize: null, progressBar: false })).rejects.toBeInstanceOf(
      CorruptArchiveError,
    );
    expect(await readdir(join(cacheDirectory, 'enwik8'))).toEqual([]);
  });

  it('rejects a zip without the enwik8 member', async () => {
    const cacheDirectory = join(folder.path, 'cache-e');
    await expect(prepareEnwik8({ cacheDirectory, baseUrl: `${server.origin}/wrong`, archiveSize: null, unpackedSize: null, progressBar: false })).rejects.toBeInstanceOf(
      MissingSplitError,
    );
  });

  it('accepts a local zip or a local unpacked file as source (no network)', async () => {
    const zipPath = join(folder.path, 'enwik8.zip');
    await writeFile(zipPath, enwik8Zip);
    const fromZip = await prepareEnwik8({ cacheDirectory: join(folder.path, 'cache-f'), source: zipPath, unpackedSize: enwik8.length });
    expect(fromZip.origin).toBe(zipPath);
    expect(fromZip.splits.test.byteLength).toBe(500);

    const rawPath = join(folder.path, 'enwik8-raw');
    await writeFile(rawPath, enwik8);
    const fromRaw = await prepareEnwik8({ cacheDirectory: join(folder.path, 'cache-g'), source: rawPath, unpackedSize: enwik8.length });
    expect(fromRaw.splits.train.parts[0]).toEqual({ kind: 'file', path: rawPath, start: 0, end: 9_000 });
    await expect(prepareEnwik8({ source: rawPath })).rejects.toThrow(/100,000,000 bytes/);
    expect(Buffer.compare(await readFile(rawPath), Buffer.from(enwik8))).toBe(0);
  });

  it('names an empty or missing source file', async () => {
    const empty = join(folder.path, 'empty-enwik8');
    await writeFile(empty, '');
    const error = await prepareEnwik8({ source: empty, unpackedSize: null }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmptyCorpusError);
    expect((error as Error).message).toContain(empty);
    await expect(prepareEnwik8({ source: join(folder.path, 'nope.zip') })).rejects.toBeInstanceOf(SourceNotFoundError);
  });
});
