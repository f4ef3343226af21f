// Tests of verified downloads against a local HTTP server and proxy on 127.0.0.1: progress, size and checksum rules, retries, resumed transfers, proxies, locks, cache reuse and local paths.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DownloadError, IntegrityError } from '../errors.js';
import {
  failingRoute,
  fakeText,
  makeTemporaryFolder,
  rangeRoute,
  startTestProxy,
  startTestServer,
  truncatedRoute,
  type TestProxy,
  type TestServer,
} from '../test-support/server.js';
import { resolveCacheDirectory } from './cache.js';
import { downloadFile, partialPathFor } from './download.js';
import { createTerminalProgressBar, type ProgressEvent } from './progress.js';

const payload = fakeText(200_000, 7);
const sha256 = createHash('sha256').update(payload).digest('hex');

let server: TestServer;
let proxy: TestProxy;
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
  proxy = await startTestProxy();
  folder = await makeTemporaryFolder();
});

afterAll(async () => {
  await proxy.close();
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
    expect(result).toEqual({ path: destination, sizeBytes: payload.length, fromCache: false, resumedFromBytes: 0 });
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

  it('gives up on a transfer cut every time after the retries, never replaces a good cached file, and keeps the partial file for later', async () => {
    const directory = join(folder.path, 'truncated');
    const destination = join(directory, 'file.bin');
    await downloadFile({ source: `${server.origin}/data/file.bin`, destination, progressBar: false });
    const before = server.requests.length;
    const error = await downloadFile({ source: `${server.origin}/data/truncated.bin`, destination, force: true, progressBar: false, retries: 2, retryDelayMilliseconds: 1 }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as DownloadError).retryable).toBe(true);
    expect((error as Error).message).toMatch(/interrupted after/);
    expect(server.requests.length - before).toBe(3);
    expect(Buffer.compare(await readFile(destination), Buffer.from(payload))).toBe(0);
    expect((await leftovers(directory)).sort()).toEqual(['.file.bin.partial', '.file.bin.partial.json']);
  });

  it('resumes a cut transfer with a Range request in the same run', async () => {
    const { route, log } = rangeRoute(payload, { interruptAfter: 60_000 });
    server.routes.set('/data/resumable.bin', route);
    const destination = join(folder.path, 'resume-now', 'file.bin');
    const result = await downloadFile({
      source: `${server.origin}/data/resumable.bin`,
      destination,
      checksum: { algorithm: 'sha256', hex: sha256 },
      progressBar: false,
      retryDelayMilliseconds: 1,
    });
    expect(result.sizeBytes).toBe(payload.length);
    expect(Buffer.compare(await readFile(destination), Buffer.from(payload))).toBe(0);
    expect(log.requests).toEqual([
      { range: undefined, ifRange: undefined },
      { range: 'bytes=60000-', ifRange: '"v1"' },
    ]);
    expect(log.bytesSent).toBe(payload.length);
    expect(await leftovers(join(folder.path, 'resume-now'))).toEqual([]);
  });

  it('resumes the partial file an earlier run left, and says how many bytes it kept', async () => {
    const { route, log } = rangeRoute(payload, { interruptAfter: 80_000 });
    server.routes.set('/data/resume-later.bin', route);
    const destination = join(folder.path, 'resume-later', 'file.bin');
    const source = `${server.origin}/data/resume-later.bin`;
    await expect(downloadFile({ source, destination, progressBar: false, retries: 0 })).rejects.toThrow(DownloadError);
    expect((await readFile(partialPathFor(destination))).length).toBe(80_000);
    const result = await downloadFile({ source, destination, expectedSize: payload.length, progressBar: false, retries: 0 });
    expect(result.resumedFromBytes).toBe(80_000);
    expect(log.requests[1]).toEqual({ range: 'bytes=80000-', ifRange: '"v1"' });
    expect(Buffer.compare(await readFile(destination), Buffer.from(payload))).toBe(0);
  });

  it('starts over when the file changed on the server (If-Range) or the server ignores ranges', async () => {
    for (const [name, options] of [
      ['changed', { etag: '"v2"' }],
      ['no-ranges', { supportsRange: false }],
    ] as const) {
      const { route, log } = rangeRoute(payload, options);
      server.routes.set(`/data/${name}.bin`, route);
      const destination = join(folder.path, name, 'file.bin');
      const source = `${server.origin}/data/${name}.bin`;
      await mkdir(join(folder.path, name), { recursive: true });
      await writeFile(partialPathFor(destination), Buffer.alloc(50_000, 0x78));
      await writeFile(`${partialPathFor(destination)}.json`, JSON.stringify({ source, validator: '"v1"', totalBytes: payload.length }));
      const result = await downloadFile({ source, destination, checksum: { algorithm: 'sha256', hex: sha256 }, progressBar: false, retries: 0 });
      expect(log.requests[0]?.range, name).toBe('bytes=50000-');
      expect(Buffer.compare(await readFile(destination), Buffer.from(payload)), name).toBe(0);
      expect(result.sizeBytes).toBe(payload.length);
    }
  });

  it('fetches the whole file again when resumed bytes fail the checksum', async () => {
    const { route, log } = rangeRoute(payload);
    server.routes.set('/data/bad-partial.bin', route);
    const destination = join(folder.path, 'bad-partial', 'file.bin');
    const source = `${server.origin}/data/bad-partial.bin`;
    await mkdir(join(folder.path, 'bad-partial'), { recursive: true });
    await writeFile(partialPathFor(destination), Buffer.alloc(1000, 0x78));
    await writeFile(`${partialPathFor(destination)}.json`, JSON.stringify({ source, validator: '"v1"', totalBytes: payload.length }));
    await downloadFile({ source, destination, checksum: { algorithm: 'sha256', hex: sha256 }, progressBar: false, retries: 0 });
    expect(log.requests).toEqual([
      { range: 'bytes=1000-', ifRange: '"v1"' },
      { range: undefined, ifRange: undefined },
    ]);
    expect(Buffer.compare(await readFile(destination), Buffer.from(payload))).toBe(0);
  });

  it('retries after HTTP 503, but not after 404', async () => {
    const flaky = failingRoute(payload, 2);
    server.routes.set('/data/flaky.bin', flaky.route);
    const destination = join(folder.path, 'flaky', 'file.bin');
    const result = await downloadFile({ source: `${server.origin}/data/flaky.bin`, destination, progressBar: false, retries: 2, retryDelayMilliseconds: 1 });
    expect(result.sizeBytes).toBe(payload.length);
    expect(flaky.attempts()).toBe(3);

    const stubborn = failingRoute(payload, 5);
    server.routes.set('/data/stubborn.bin', stubborn.route);
    const error = await downloadFile({ source: `${server.origin}/data/stubborn.bin`, destination: join(folder.path, 'stubborn', 'f'), progressBar: false, retries: 1, retryDelayMilliseconds: 1 }).catch(
      (caught: unknown) => caught,
    );
    expect((error as Error).message).toMatch(/HTTP 503/);
    expect(stubborn.attempts()).toBe(2);

    const missing = failingRoute(payload, 5, 404);
    server.routes.set('/data/missing.bin', missing.route);
    await expect(downloadFile({ source: `${server.origin}/data/missing.bin`, destination: join(folder.path, 'missing404', 'f'), progressBar: false, retryDelayMilliseconds: 1 })).rejects.toThrow(/HTTP 404/);
    expect(missing.attempts()).toBe(1);
  });

  it('goes through HTTP_PROXY (or http_proxy), and straight to hosts in NO_PROXY', async () => {
    const source = `${server.origin}/data/file.bin`;
    const before = proxy.requests.length;
    await downloadFile({ source, destination: join(folder.path, 'proxy', 'a.bin'), expectedSize: payload.length, progressBar: false, environment: { HTTP_PROXY: proxy.origin } });
    expect(proxy.requests.slice(before)).toEqual([source]);
    await downloadFile({ source, destination: join(folder.path, 'proxy', 'b.bin'), expectedSize: payload.length, progressBar: false, environment: { http_proxy: proxy.origin } });
    expect(proxy.requests.slice(before)).toEqual([source, source]);
    await downloadFile({
      source,
      destination: join(folder.path, 'proxy', 'c.bin'),
      progressBar: false,
      environment: { HTTP_PROXY: proxy.origin, NO_PROXY: 'example.org,127.0.0.1' },
    });
    expect(proxy.requests.slice(before)).toHaveLength(2);
    // A proxy that is not there: the download fails rather than silently going direct.
    await expect(
      downloadFile({ source, destination: join(folder.path, 'proxy', 'd.bin'), progressBar: false, retries: 0, environment: { HTTP_PROXY: 'http://127.0.0.1:1' } }),
    ).rejects.toThrow(DownloadError);
  });

  it('refuses to share a partial file with a running download, and takes over a dead one\'s lock', async () => {
    const destination = join(folder.path, 'locked', 'file.bin');
    await mkdir(join(folder.path, 'locked'), { recursive: true });
    const lock = `${partialPathFor(destination)}.lock`;
    await writeFile(lock, `${process.pid}\n`);
    await expect(downloadFile({ source: `${server.origin}/data/file.bin`, destination, progressBar: false })).rejects.toThrow(/another download of the same file is running/);
    const finished = spawnSync(process.execPath, ['-e', '']).pid;
    await writeFile(lock, `${finished}\n`);
    const result = await downloadFile({ source: `${server.origin}/data/file.bin`, destination, progressBar: false });
    expect(result.sizeBytes).toBe(payload.length);
    expect(await leftovers(join(folder.path, 'locked'))).toEqual([]);
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
