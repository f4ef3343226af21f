// Tests of verified downloads against a local HTTP server on 127.0.0.1: progress, size and checksum rules, truncated transfers, cache reuse and local paths.
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DownloadError, IntegrityError } from '../errors.js';
import { fakeText, makeTemporaryFolder, startTestServer, truncatedRoute, type TestServer } from '../test-support/server.js';
import { resolveCacheDirectory } from './cache.js';
import { downloadFile } from './download.js';
import { createTerminalProgressBar, type ProgressEvent } from './progress.js';

const payload = fakeText(200_000, 7);
const sha256 = createHash('sha256').update(payload).digest('hex');

let server: TestServer;
let folder: { path: string; remove: () => Promise<void> };

beforeAll(async () => {
  server = await startTestServer({
    '/data/file.bin': payload,
    '/data/truncated.bin': truncatedRoute(payload.subarray(0, 50_000), payload.length),
    '/data/redirect': (_request, response) => {
      response.writeHead(302, { location: '/data/file.bin' });
      response.end();
    },
  });
  folder = await makeTemporaryFolder();
});

afterAll(async () => {
  await server.close();
  await folder.remove();
});

async function leftovers(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => name.includes('.partial'));
}

describe('downloadFile', () => {
  it('downloads, reports progress and verifies size and sha256', async () => {
    const destination = join(folder.path, 'a', 'file.bin');
    const events: ProgressEvent[] = [];
    const result = await downloadFile({
      source: `${server.origin}/data/file.bin`,
      destination,
      expectedSize: payload.length,
      checksum: { algorithm: 'sha256', hex: sha256 },
      onProgress: (event) => events.push(event),
      progressBar: false,
    });
    expect(result).toEqual({ path: destination, sizeBytes: payload.length, fromCache: false });
    expect(Buffer.compare(await readFile(destination), Buffer.from(payload))).toBe(0);
    expect(events.length).toBeGreaterThan(0);
    const last = events[events.length - 1] as ProgressEvent;
    expect(last.receivedBytes).toBe(payload.length);
    expect(last.totalBytes).toBe(payload.length);
    for (let index = 1; index < events.length; index += 1) {
      expect((events[index] as ProgressEvent).receivedBytes).toBeGreaterThanOrEqual((events[index - 1] as ProgressEvent).receivedBytes);
    }
  });

  it('reuses a verified cached file without a request', async () => {
    const destination = join(folder.path, 'cached', 'file.bin');
    await downloadFile({ source: `${server.origin}/data/file.bin`, destination, expectedSize: payload.length, progressBar: false });
    const before = server.requests.length;
    const result = await downloadFile({ source: `${server.origin}/data/file.bin`, destination, expectedSize: payload.length, progressBar: false });
    expect(result.fromCache).toBe(true);
    expect(server.requests.length).toBe(before);
  });

  it('rejects a size mismatch and leaves no file', async () => {
    const directory = join(folder.path, 'size');
    const destination = join(directory, 'file.bin');
    await expect(
      downloadFile({ source: `${server.origin}/data/file.bin`, destination, expectedSize: payload.length + 1, progressBar: false }),
    ).rejects.toThrow(IntegrityError);
    await expect(readdir(directory)).resolves.toEqual([]);
  });

  it('rejects a checksum mismatch with a message naming the file, and leaves no file', async () => {
    const directory = join(folder.path, 'checksum');
    const destination = join(directory, 'file.bin');
    const error = await downloadFile({
      source: `${server.origin}/data/file.bin`,
      destination,
      checksum: { algorithm: 'sha256', hex: '0'.repeat(64) },
      progressBar: false,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).check).toBe('checksum');
    expect((error as Error).message).toContain('/data/file.bin');
    expect((error as Error).message).toContain(sha256);
    await expect(readdir(directory)).resolves.toEqual([]);
  });

  it('rejects a truncated transfer and never replaces a good cached file', async () => {
    const directory = join(folder.path, 'truncated');
    const destination = join(directory, 'file.bin');
    await downloadFile({ source: `${server.origin}/data/file.bin`, destination, progressBar: false });
    await expect(
      downloadFile({ source: `${server.origin}/data/truncated.bin`, destination, force: true, progressBar: false }),
    ).rejects.toThrow(/truncated|interrupted|Size mismatch/i);
    expect(Buffer.compare(await readFile(destination), Buffer.from(payload))).toBe(0);
    expect(await leftovers(directory)).toEqual([]);
  });

  it('replaces a stale cached file only after the new one is verified', async () => {
    const directory = join(folder.path, 'stale');
    const destination = join(directory, 'file.bin');
    await downloadFile({ source: `${server.origin}/data/file.bin`, destination, progressBar: false });
    await writeFile(destination, 'stale');
    const result = await downloadFile({ source: `${server.origin}/data/file.bin`, destination, expectedSize: payload.length, progressBar: false });
    expect(result.fromCache).toBe(false);
    expect((await readFile(destination)).length).toBe(payload.length);
  });

  it('follows redirects', async () => {
    const destination = join(folder.path, 'redirect', 'file.bin');
    const result = await downloadFile({ source: `${server.origin}/data/redirect`, destination, expectedSize: payload.length, progressBar: false });
    expect(result.sizeBytes).toBe(payload.length);
  });

  it('reports HTTP errors and unreachable hosts as DownloadError', async () => {
    const destination = join(folder.path, 'missing', 'file.bin');
    await expect(downloadFile({ source: `${server.origin}/nothing-here`, destination, progressBar: false })).rejects.toThrow(/HTTP 404/);
    await expect(downloadFile({ source: `${server.origin}/nothing-here`, destination, progressBar: false })).rejects.toBeInstanceOf(DownloadError);
  });

  it('copies a local path or file: URL with the same checks', async () => {
    const local = join(folder.path, 'local-source.bin');
    await writeFile(local, payload);
    const fromPath = await downloadFile({ source: local, destination: join(folder.path, 'copy', 'a.bin'), checksum: { algorithm: 'sha256', hex: sha256 }, progressBar: false });
    expect(fromPath.sizeBytes).toBe(payload.length);
    const fromUrl = await downloadFile({ source: pathToFileURL(local).href, destination: join(folder.path, 'copy', 'b.bin'), progressBar: false });
    expect(fromUrl.sizeBytes).toBe(payload.length);
    await expect(downloadFile({ source: join(folder.path, 'absent.bin'), destination: join(folder.path, 'copy', 'c.bin'), progressBar: false })).rejects.toThrow(
      /does not exist/,
    );
  });
});

describe('resolveCacheDirectory', () => {
  it('prefers the option, then ENGRAM_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache/engram', () => {
    expect(resolveCacheDirectory('/tmp/explicit', { ENGRAM_CACHE_DIR: '/tmp/environment' })).toBe('/tmp/explicit');
    expect(resolveCacheDirectory(undefined, { ENGRAM_CACHE_DIR: '/tmp/environment', XDG_CACHE_HOME: '/tmp/xdg' })).toBe('/tmp/environment');
    expect(resolveCacheDirectory(undefined, { XDG_CACHE_HOME: '/tmp/xdg' })).toBe('/tmp/xdg/engram');
    expect(resolveCacheDirectory(undefined, {})).toMatch(/\.cache\/engram$/);
  });
});

describe('createTerminalProgressBar', () => {
  it('draws nothing on a stream that is not a TTY', () => {
    const written: string[] = [];
    const stream = { isTTY: false, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream;
    const bar = createTerminalProgressBar('file', stream);
    bar.update({ source: 'a', destination: 'b', receivedBytes: 5, totalBytes: 10 });
    bar.stop();
    expect(bar.drawing).toBe(false);
    expect(written).toEqual([]);
  });
});
