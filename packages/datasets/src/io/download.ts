// Verified downloads over undici: proxies from HTTPS_PROXY/HTTP_PROXY/NO_PROXY, retries with exponential backoff, resume of a `.partial` file by Range request, size and checksum checks before the rename into place.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { EngramError } from '@engram/core';
import { isProcessAlive, writeFileAtomic } from '@engram/core/node';
import { EnvHttpProxyAgent, interceptors, request, type Dispatcher } from 'undici';
import { DownloadError, IntegrityError, InvalidArgumentError } from '../errors.js';
import { formatBytes, hashFile, isNotFound, regularFileSize, removeQuietly, type FileChecksum } from './files.js';
import { createTerminalProgressBar, type ProgressCallback } from './progress.js';

/** Options of {@link downloadFile}. */
export interface DownloadOptions {
  /** An `http:`/`https:`/`file:` URL, or a local file path (copied with the same checks). */
  source: string;
  /** Final path of the verified file. Its folder is created if needed. */
  destination: string;
  /** Exact size in bytes the file must have; null or absent: no size rule beyond the server's Content-Length. */
  expectedSize?: number | null;
  /** Digest the file must have; null or absent: not checked. */
  checksum?: FileChecksum | null;
  /** Called as bytes arrive (and once at the end). */
  onProgress?: ProgressCallback;
  /** Draw a terminal progress bar on stderr: `'auto'` (default) draws only on a TTY. */
  progressBar?: boolean | 'auto';
  /** Label of the progress bar (default: the destination's file name). */
  label?: string;
  /** Fetch again even when a verified copy exists. The old copy stays until the new one is verified. */
  force?: boolean;
  /** Abort an attempt when no byte arrives for this long (milliseconds, default 60 000). */
  idleTimeoutMilliseconds?: number;
  /** Further attempts after a network error, an interrupted transfer or HTTP 408/429/5xx (default 4). */
  retries?: number;
  /** Wait before the first retry, doubled for each further one, plus up to 25% jitter, at most 60 s (milliseconds, default 1000). A server's Retry-After is honoured up to 60 s. */
  retryDelayMilliseconds?: number;
  /**
   * Where the proxy settings come from (default `process.env`): `HTTPS_PROXY` for https URLs,
   * `HTTP_PROXY` for http (and for https when HTTPS_PROXY is unset), `NO_PROXY` (comma-separated
   * hosts, `host:port`, `.domain`, or `*`); lower-case names win over upper-case ones.
   */
  environment?: Record<string, string | undefined>;
}

/** What {@link downloadFile} did. */
export interface DownloadResult {
  path: string;
  sizeBytes: number;
  /** True when a verified copy already existed and nothing was fetched. */
  fromCache: boolean;
  /** Bytes kept from an earlier interrupted attempt or run (0 when the transfer started from scratch). */
  resumedFromBytes: number;
}

const MAXIMUM_REDIRECTS = 5;
const MAXIMUM_RETRY_DELAY_MILLISECONDS = 60_000;

/** What is remembered beside a `.partial` file so a later attempt can resume it safely. */
interface PartialRecord {
  source: string;
  /** A strong ETag or the Last-Modified date, sent as If-Range so a changed file is fetched whole. */
  validator: string | null;
  totalBytes: number | null;
}

/**
 * Makes sure `destination` holds a verified copy of `source`.
 *
 * Rules: a cached file is reused when it has the expected size and (if known) checksum.
 * Otherwise the source is streamed into the hidden `.<name>.partial` file in the same folder.
 * An interrupted transfer is retried with backoff and continues where it stopped with a
 * `Range` request (guarded by `If-Range`) when the server supports it, else from the start;
 * a `.partial` left by an earlier run is resumed the same way. The finished file must have
 * the server's total size, `expectedSize` and `checksum`; only then is it renamed onto
 * `destination`. A file failing a check is deleted (a resumed one is first fetched once more
 * from scratch); an existing file at `destination` is never touched until then.
 */
export async function downloadFile(options: DownloadOptions): Promise<DownloadResult> {
  const destination = resolvePath(options.destination);
  const expectedSize = options.expectedSize ?? null;
  const checksum = options.checksum ?? null;
  const retries = options.retries ?? 4;
  const retryDelay = options.retryDelayMilliseconds ?? 1000;
  if (expectedSize !== null && (!Number.isSafeInteger(expectedSize) || expectedSize < 0)) {
    throw new InvalidArgumentError('expectedSize', 'a non-negative integer or null', expectedSize);
  }
  if (checksum !== null && !/^[0-9a-f]+$/.test(checksum.hex)) {
    throw new InvalidArgumentError('checksum.hex', 'a lowercase hexadecimal digest', checksum.hex);
  }
  if (!Number.isInteger(retries) || retries < 0) throw new InvalidArgumentError('retries', 'a non-negative integer', retries);
  if (!Number.isFinite(retryDelay) || retryDelay < 0) throw new InvalidArgumentError('retryDelayMilliseconds', 'a non-negative number', retryDelay);

  if (options.force !== true) {
    const cached = await verifiedCachedSize(destination, expectedSize, checksum);
    if (cached !== null) {
      options.onProgress?.({ source: options.source, destination, receivedBytes: cached, totalBytes: cached });
      return { path: destination, sizeBytes: cached, fromCache: true, resumedFromBytes: 0 };
    }
  }

  await mkdir(dirname(destination), { recursive: true });
  const partial = partialPathFor(destination);
  const bar = (options.progressBar ?? 'auto') === false ? null : createTerminalProgressBar(options.label ?? basename(destination));
  const report = (receivedBytes: number, totalBytes: number | null) => {
    const event = { source: options.source, destination, receivedBytes, totalBytes: totalBytes ?? expectedSize };
    options.onProgress?.(event);
    bar?.update(event);
  };
  const http = /^https?:\/\//i.test(options.source);
  const releaseLock = await lockPartial(partial, options.source, destination);
  const dispatcher = http ? createDispatcher(options.environment ?? process.env) : null;
  try {
    for (let fromScratch = false; ; fromScratch = true) {
      if (fromScratch || !http) await removePartial(partial);
      const resumedFromBytes = http ? await resumableBytes(partial, options.source) : 0;
      const totalBytes = dispatcher === null
        ? await copyLocal(options.source, destination, partial, report)
        : await fetchWithRetries(options.source, destination, partial, dispatcher, { retries, retryDelay, idle: options.idleTimeoutMilliseconds ?? 60_000, report });
      try {
        const size = await verify(options.source, partial, totalBytes, expectedSize, checksum);
        await syncFile(partial);
        await rename(partial, destination);
        await removeQuietly(recordPathFor(partial));
        return { path: destination, sizeBytes: size, fromCache: false, resumedFromBytes };
      } catch (error) {
        await removePartial(partial);
        // Bytes kept from before may be what is wrong: fetch the whole file once more before giving up.
        if (error instanceof IntegrityError && resumedFromBytes > 0 && !fromScratch) continue;
        throw error;
      }
    }
  } finally {
    bar?.stop();
    await dispatcher?.close();
    // A local copy is redone from scratch anyway; only downloads keep their bytes for a later resume.
    if (!http) await removePartial(partial);
    await releaseLock();
  }
}

/**
 * Takes the `.partial.lock` beside the partial file (holding our pid), so two downloads never
 * write the same partial file. A lock whose process is gone is taken over.
 */
async function lockPartial(partial: string, source: string, destination: string): Promise<() => Promise<void>> {
  const lock = `${partial}.lock`;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await writeFile(lock, `${process.pid}\n`, { flag: 'wx' });
      return () => removeQuietly(lock);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(await readFile(lock, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && holder > 0 && isProcessAlive(holder)) {
        throw new DownloadError(
          source,
          destination,
          `another download of the same file is running (process ${holder}, lock ${lock}); wait for it to finish, or delete the lock file if that process is not downloading`,
        );
      }
      await removeQuietly(lock);
    }
  }
  throw new DownloadError(source, destination, `could not take the lock ${lock}; delete it and run again`);
}

/** The stable hidden name of the file being downloaded, beside its destination so the final rename is atomic. */
export function partialPathFor(destination: string): string {
  return join(dirname(destination), `.${basename(destination)}.partial`);
}

function recordPathFor(partial: string): string {
  return `${partial}.json`;
}

async function removePartial(partial: string): Promise<void> {
  await removeQuietly(partial);
  await removeQuietly(recordPathFor(partial));
}

/** Bytes of a `.partial` that an earlier attempt left for the same source (0 when there is none or it came from elsewhere). */
async function resumableBytes(partial: string, source: string): Promise<number> {
  const size = await regularFileSize(partial);
  if (size === null || size === 0) return 0;
  const record = await readRecord(partial);
  if (record === null || record.source !== source) {
    await removePartial(partial);
    return 0;
  }
  return size;
}

async function readRecord(partial: string): Promise<PartialRecord | null> {
  try {
    const record = JSON.parse(await readFile(recordPathFor(partial), 'utf8')) as Partial<PartialRecord>;
    if (typeof record.source !== 'string') return null;
    return { source: record.source, validator: typeof record.validator === 'string' ? record.validator : null, totalBytes: typeof record.totalBytes === 'number' ? record.totalBytes : null };
  } catch {
    return null;
  }
}

/** An undici agent that follows redirects and sends each request through the proxy the environment names for it. */
function createDispatcher(environment: Record<string, string | undefined>): Dispatcher {
  const pick = (name: string) => environment[name.toLowerCase()] ?? environment[name.toUpperCase()] ?? '';
  // proxyTunnel false: http URLs go to the proxy as plain requests (every HTTP proxy accepts those), https ones through CONNECT.
  const agent = new EnvHttpProxyAgent({ httpProxy: pick('http_proxy'), httpsProxy: pick('https_proxy'), noProxy: pick('no_proxy'), proxyTunnel: false });
  return agent.compose(interceptors.redirect({ maxRedirections: MAXIMUM_REDIRECTS }));
}

interface RetrySettings {
  retries: number;
  retryDelay: number;
  idle: number;
  report: (receivedBytes: number, totalBytes: number | null) => void;
}

/** Runs transfer attempts until one completes; returns the total size the server announced (null if none). */
async function fetchWithRetries(url: string, destination: string, partial: string, dispatcher: Dispatcher, settings: RetrySettings): Promise<number | null> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await transferOnce(url, destination, partial, dispatcher, settings);
    } catch (error) {
      if (!(error instanceof RetryableFailure) || attempt >= settings.retries) {
        throw error instanceof RetryableFailure ? error.error : error;
      }
      const backoff = Math.min(settings.retryDelay * 2 ** attempt * (1 + 0.25 * Math.random()), MAXIMUM_RETRY_DELAY_MILLISECONDS);
      await sleep(Math.max(backoff, error.retryAfterMilliseconds ?? 0));
    }
  }
}

/** A failed attempt worth repeating, with the server's Retry-After when it sent one. */
class RetryableFailure extends EngramError {
  override readonly name = 'RetryableFailure';
  constructor(
    readonly error: DownloadError,
    readonly retryAfterMilliseconds: number | null = null,
  ) {
    super(error.message, { cause: error });
  }
}

/** One request: resumes the `.partial` with a Range request when it has bytes, appends what arrives, and checks the transfer ended where the server said. */
async function transferOnce(url: string, destination: string, partial: string, dispatcher: Dispatcher, settings: RetrySettings): Promise<number | null> {
  const offset = (await regularFileSize(partial)) ?? 0;
  const record = offset > 0 ? await readRecord(partial) : null;
  // An earlier run got every byte but stopped before the checks: nothing left to fetch.
  if (record !== null && record.totalBytes === offset) return offset;
  const headers: Record<string, string> = { 'user-agent': '@engram/datasets', 'accept-encoding': 'identity' };
  if (offset > 0) {
    headers.range = `bytes=${offset}-`;
    if (record?.validator) headers['if-range'] = record.validator;
  }
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, { dispatcher, headers, headersTimeout: settings.idle, bodyTimeout: settings.idle });
  } catch (error) {
    throw new RetryableFailure(new DownloadError(url, destination, errorText(error), { cause: error, retryable: true }));
  }
  const status = response.statusCode;
  const header = (name: string): string | undefined => {
    const value = response.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  if (status === 416 && offset > 0) {
    // The kept bytes do not fit the file any more: start again from nothing.
    await response.body.dump();
    await removePartial(partial);
    throw new RetryableFailure(new DownloadError(url, destination, `the server refused to resume at byte ${offset} (HTTP 416)`, { retryable: true }));
  }
  if (status !== 200 && status !== 206) {
    await response.body.dump().catch(() => undefined);
    const retryable = status === 408 || status === 429 || status >= 500;
    const failure = new DownloadError(url, destination, `the server answered HTTP ${status}`, { retryable });
    if (!retryable) throw failure;
    throw new RetryableFailure(failure, retryAfterMilliseconds(header('retry-after')));
  }

  let start = 0;
  let totalBytes: number | null;
  if (status === 206) {
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header('content-range') ?? '');
    if (range === null || Number(range[1]) !== offset) {
      await response.body.dump();
      await removePartial(partial);
      throw new RetryableFailure(new DownloadError(url, destination, `the server resumed at an unexpected place (Content-Range ${header('content-range') ?? 'missing'})`, { retryable: true }));
    }
    start = offset;
    totalBytes = range[3] === '*' ? record?.totalBytes ?? null : Number(range[3]);
  } else {
    const length = header('content-length');
    totalBytes = length !== undefined && /^\d+$/.test(length) ? Number(length) : null;
  }
  const etag = header('etag');
  const validator = etag !== undefined && !etag.startsWith('W/') ? etag : header('last-modified') ?? null;

  let receivedBytes = start;
  settings.report(receivedBytes, totalBytes);
  // Listen to the body before anything else is awaited: bytes that arrive meanwhile must not be lost.
  const opening = open(partial, start > 0 ? 'r+' : 'w');
  const writing = writeBody(response.body, opening, start, (written) => {
    receivedBytes = written;
    settings.report(receivedBytes, totalBytes);
  });
  // It may fail while the record below is written; it is awaited right after.
  writing.catch(() => undefined);
  try {
    await writeFileAtomic(recordPathFor(partial), `${JSON.stringify({ source: url, validator, totalBytes } satisfies PartialRecord)}\n`);
    await writing;
  } catch (error) {
    await writing.catch(() => undefined);
    throw new RetryableFailure(
      new DownloadError(url, destination, `transfer interrupted after ${formatBytes(receivedBytes)} (${errorText(error)})`, { cause: error, retryable: true }),
    );
  } finally {
    await opening.then((file) => file.close()).catch(() => undefined);
  }
  if (totalBytes !== null && receivedBytes < totalBytes) {
    throw new RetryableFailure(
      new DownloadError(url, destination, `transfer interrupted after ${formatBytes(receivedBytes)} of ${formatBytes(totalBytes)}`, { retryable: true }),
    );
  }
  settings.report(receivedBytes, totalBytes);
  return totalBytes;
}

const MAXIMUM_PENDING_BYTES = 16 * 1024 * 1024;

/**
 * Writes a response body into the file being opened, from byte `start`. Chunks are taken as they arrive
 * ('data' events) and written in order, so when the connection is cut every byte received so
 * far still reaches the file (reading with `for await` or `pipeline` drops what is buffered when
 * the stream errors). The body is paused while more than 16 MiB wait for the disk.
 */
function writeBody(body: Readable, opening: Promise<FileHandle>, start: number, onWritten: (bytes: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let position = start;
    let pending = 0;
    let failedWrite: unknown = null;
    let writes: Promise<unknown> = opening.catch((error: unknown) => {
      failedWrite = error;
      body.destroy(error as Error);
    });
    body.on('data', (chunk: Buffer) => {
      const at = position;
      position += chunk.length;
      pending += chunk.length;
      if (pending > MAXIMUM_PENDING_BYTES) body.pause();
      writes = writes.then(async () => {
        if (failedWrite !== null) return;
        try {
          await (await opening).write(chunk, 0, chunk.length, at);
        } catch (error) {
          failedWrite = error;
          body.destroy(error as Error);
          return;
        }
        pending -= chunk.length;
        onWritten(at + chunk.length);
        if (pending <= MAXIMUM_PENDING_BYTES / 2 && body.isPaused()) body.resume();
      });
    });
    body.on('end', () => void writes.then(() => (failedWrite === null ? resolve() : reject(failedWrite))));
    body.on('error', (error) => void writes.then(() => reject(failedWrite ?? error)));
  });
}

/** Retry-After in milliseconds (seconds or an HTTP date), capped; null when absent or unreadable. */
function retryAfterMilliseconds(value: string | undefined): number | null {
  if (value === undefined) return null;
  const milliseconds = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(milliseconds) ? Math.min(Math.max(milliseconds, 0), MAXIMUM_RETRY_DELAY_MILLISECONDS) : null;
}

/** Copies a local file (path or `file:` URL) into the `.partial`; returns its size. */
async function copyLocal(source: string, destination: string, partial: string, report: (receivedBytes: number, totalBytes: number | null) => void): Promise<number> {
  const path = /^file:/i.test(source) ? fileURLToPath(source) : resolvePath(source);
  let stream: Readable;
  let totalBytes: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new DownloadError(source, destination, `${path} is not a regular file`);
    totalBytes = info.size;
    stream = createReadStream(path);
  } catch (error) {
    if (error instanceof DownloadError) throw error;
    const reason = isNotFound(error) ? `local file ${path} does not exist` : errorText(error);
    throw new DownloadError(source, destination, reason, { cause: error });
  }
  let receivedBytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      receivedBytes += chunk.length;
      report(receivedBytes, totalBytes);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(stream, meter, createWriteStream(partial));
  } catch (error) {
    throw new DownloadError(source, destination, `copy interrupted after ${formatBytes(receivedBytes)} (${errorText(error)})`, { cause: error });
  }
  report(receivedBytes, totalBytes);
  return totalBytes;
}

/** Checks the finished `.partial` against the announced size, `expectedSize` and `checksum`; returns its size. */
async function verify(source: string, partial: string, totalBytes: number | null, expectedSize: number | null, checksum: FileChecksum | null): Promise<number> {
  const size = (await regularFileSize(partial)) ?? 0;
  if (totalBytes !== null && size !== totalBytes) {
    throw new IntegrityError(
      source,
      'size',
      `${formatBytes(totalBytes)} (announced by the server)`,
      formatBytes(size),
      'The incomplete copy was deleted and no file was renamed into place; run the same command again to retry.',
    );
  }
  if (expectedSize !== null && size !== expectedSize) {
    throw new IntegrityError(
      source,
      'size',
      formatBytes(expectedSize),
      formatBytes(size),
      'The file at that address is not the expected one (or is truncated); it was deleted and nothing was renamed into place. Check the source or base URL.',
    );
  }
  if (checksum !== null) {
    const actual = await hashFile(partial, checksum.algorithm);
    if (actual !== checksum.hex) {
      throw new IntegrityError(
        source,
        'checksum',
        `${checksum.algorithm} ${checksum.hex}`,
        `${checksum.algorithm} ${actual}`,
        'The downloaded bytes are corrupted or not the expected file; they were deleted and nothing was renamed into place. Retry, or check the source or base URL.',
      );
    }
  }
  return size;
}

/** Size of `path` when it exists and passes the known checks, else null. */
async function verifiedCachedSize(path: string, expectedSize: number | null, checksum: FileChecksum | null): Promise<number | null> {
  const size = await regularFileSize(path);
  if (size === null) return null;
  if (expectedSize !== null && size !== expectedSize) return null;
  if (checksum !== null && (await hashFile(path, checksum.algorithm)) !== checksum.hex) return null;
  return size;
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
