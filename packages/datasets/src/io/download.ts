// Verified downloads: stream a URL (or copy a local file) into a temporary file beside the target, check size and checksum, and only then rename it into place.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, stat } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { dirname, resolve as resolvePath } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { DownloadError, IntegrityError, InvalidArgumentError } from '../errors.js';
import {
  formatBytes,
  hashFile,
  isNotFound,
  regularFileSize,
  removeQuietly,
  temporaryPathFor,
  type FileChecksum,
} from './files.js';
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
  /** Abort when no byte arrives for this long (milliseconds, default 60 000). */
  idleTimeoutMilliseconds?: number;
}

/** What {@link downloadFile} did. */
export interface DownloadResult {
  path: string;
  sizeBytes: number;
  /** True when a verified copy already existed and nothing was fetched. */
  fromCache: boolean;
}

const MAXIMUM_REDIRECTS = 5;

/**
 * Makes sure `destination` holds a verified copy of `source`.
 *
 * Rules: a cached file is reused when it has the expected size and (if known) checksum;
 * otherwise the source is streamed into a hidden `.partial` file in the same folder, its
 * size is compared with the server's Content-Length, `expectedSize` and `checksum`, and
 * only a file that passes every check is renamed onto `destination`. On any failure the
 * temporary file is deleted and an existing file at `destination` is left untouched.
 */
export async function downloadFile(options: DownloadOptions): Promise<DownloadResult> {
  const destination = resolvePath(options.destination);
  const expectedSize = options.expectedSize ?? null;
  const checksum = options.checksum ?? null;
  if (expectedSize !== null && (!Number.isSafeInteger(expectedSize) || expectedSize < 0)) {
    throw new InvalidArgumentError('expectedSize', 'a non-negative integer or null', expectedSize);
  }
  if (checksum !== null && !/^[0-9a-f]+$/.test(checksum.hex)) {
    throw new InvalidArgumentError('checksum.hex', 'a lowercase hexadecimal digest', checksum.hex);
  }

  if (options.force !== true) {
    const cached = await verifiedCachedSize(destination, expectedSize, checksum);
    if (cached !== null) {
      options.onProgress?.({ source: options.source, destination, receivedBytes: cached, totalBytes: cached });
      return { path: destination, sizeBytes: cached, fromCache: true };
    }
  }

  await mkdir(dirname(destination), { recursive: true });
  const temporary = temporaryPathFor(destination);
  const wantsBar = options.progressBar ?? 'auto';
  const bar = wantsBar === false ? null : createTerminalProgressBar(options.label ?? destination);
  try {
    const opened = await openSource(options.source, destination, options.idleTimeoutMilliseconds ?? 60_000);
    const hash = checksum === null ? null : createHash(checksum.algorithm);
    let receivedBytes = 0;
    const report = () => {
      const event = { source: options.source, destination, receivedBytes, totalBytes: opened.totalBytes ?? expectedSize };
      options.onProgress?.(event);
      bar?.update(event);
    };
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        receivedBytes += chunk.length;
        hash?.update(chunk);
        report();
        callback(null, chunk);
      },
    });
    try {
      await pipeline(opened.stream, meter, createWriteStream(temporary));
    } catch (error) {
      if (error instanceof DownloadError) throw error;
      throw new DownloadError(options.source, destination, `transfer interrupted after ${formatBytes(receivedBytes)} (${errorText(error)})`, { cause: error });
    }
    report();

    const refetch = 'The incomplete copy was deleted and no file was renamed into place; run the same command again to retry.';
    if (opened.totalBytes !== null && receivedBytes !== opened.totalBytes) {
      throw new IntegrityError(options.source, 'size', `${formatBytes(opened.totalBytes)} (announced by the server)`, formatBytes(receivedBytes), refetch);
    }
    if (expectedSize !== null && receivedBytes !== expectedSize) {
      throw new IntegrityError(
        options.source,
        'size',
        formatBytes(expectedSize),
        formatBytes(receivedBytes),
        'The file at that address is not the expected one (or is truncated); it was deleted and nothing was renamed into place. Check the source or base URL.',
      );
    }
    if (checksum !== null && hash !== null) {
      const actual = hash.digest('hex');
      if (actual !== checksum.hex) {
        throw new IntegrityError(
          options.source,
          'checksum',
          `${checksum.algorithm} ${checksum.hex}`,
          `${checksum.algorithm} ${actual}`,
          'The downloaded bytes are corrupted or not the expected file; they were deleted and nothing was renamed into place. Retry, or check the source or base URL.',
        );
      }
    }
    await syncFile(temporary);
    await rename(temporary, destination);
    return { path: destination, sizeBytes: receivedBytes, fromCache: false };
  } finally {
    bar?.stop();
    await removeQuietly(temporary);
  }
}

/** Size of `path` when it exists and passes the known checks, else null. */
async function verifiedCachedSize(path: string, expectedSize: number | null, checksum: FileChecksum | null): Promise<number | null> {
  const size = await regularFileSize(path);
  if (size === null) return null;
  if (expectedSize !== null && size !== expectedSize) return null;
  if (checksum !== null && (await hashFile(path, checksum.algorithm)) !== checksum.hex) return null;
  return size;
}

interface OpenedSource {
  stream: Readable;
  totalBytes: number | null;
}

async function openSource(source: string, destination: string, idleTimeoutMilliseconds: number): Promise<OpenedSource> {
  if (/^https?:\/\//i.test(source)) return openHttp(source, destination, idleTimeoutMilliseconds, 0);
  const path = /^file:/i.test(source) ? fileURLToPath(source) : resolvePath(source);
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new DownloadError(source, destination, `${path} is not a regular file`);
    return { stream: createReadStream(path), totalBytes: info.size };
  } catch (error) {
    if (error instanceof DownloadError) throw error;
    const reason = isNotFound(error) ? `local file ${path} does not exist` : errorText(error);
    throw new DownloadError(source, destination, reason, { cause: error });
  }
}

function openHttp(url: string, destination: string, idleTimeoutMilliseconds: number, redirects: number): Promise<OpenedSource> {
  return new Promise((resolve, reject) => {
    const get = url.toLowerCase().startsWith('https:') ? httpsGet : httpGet;
    const request = get(url, { headers: { 'user-agent': '@engram/datasets', 'accept-encoding': 'identity' } }, (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (status >= 300 && status < 400 && location !== undefined) {
        response.resume();
        if (redirects >= MAXIMUM_REDIRECTS) {
          reject(new DownloadError(url, destination, `more than ${MAXIMUM_REDIRECTS} redirects`));
          return;
        }
        openHttp(new URL(location, url).toString(), destination, idleTimeoutMilliseconds, redirects + 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        response.resume();
        reject(new DownloadError(url, destination, `the server answered HTTP ${status} ${response.statusMessage ?? ''}`.trim()));
        return;
      }
      const length = response.headers['content-length'];
      const totalBytes = length !== undefined && /^\d+$/.test(length) ? Number(length) : null;
      response.setTimeout(idleTimeoutMilliseconds, () => {
        response.destroy(new Error(`no data for ${idleTimeoutMilliseconds} ms`));
      });
      resolve({ stream: response, totalBytes });
    });
    request.setTimeout(idleTimeoutMilliseconds, () => {
      request.destroy(new Error(`no answer for ${idleTimeoutMilliseconds} ms`));
    });
    request.on('error', (error) => {
      reject(new DownloadError(url, destination, errorText(error), { cause: error }));
    });
  });
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
