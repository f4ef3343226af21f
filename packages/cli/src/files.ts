// File safety of the commands: atomic file writes, folder swaps, the run-directory lock, bounded reads of regular files and file-system errors named by the user's path.
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { isProcessAlive } from '@engram/core/node';
import lockfile from 'proper-lockfile';
import { CliError, InputError, UsageError } from './errors.js';

/** Marker in the names of every temporary file or folder the commands create (hidden, beside the target). */
const TEMPORARY_MARKER = '.engram-tmp-';

/** A hidden temporary path beside `target` (same folder, so the final rename is atomic). */
export function temporaryPathBeside(target: string, purpose: string): string {
  return join(dirname(target), `.${basename(target)}${TEMPORARY_MARKER}${purpose}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Writes a file atomically: a temporary file beside it, fsync, rename (the one writer, from @engram/core/node). */
export { writeFileAtomic } from '@engram/core/node';

/** True when `path` is missing or an empty folder. */
export async function isMissingOrEmpty(path: string): Promise<boolean> {
  try {
    const info = await stat(path);
    if (!info.isDirectory()) return false;
    return (await readdir(path)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

/** The entries of a folder, for messages (`config.yaml, checkpoints/, ...`, at most 5). */
export function describeContents(path: string): string {
  try {
    const entries = readdirSync(path, { withFileTypes: true }).map((entry) => (entry.isDirectory() ? `${entry.name}/` : entry.name));
    const shown = entries.slice(0, 5).join(', ');
    return entries.length > 5 ? `${shown}, ... (${entries.length} entries)` : shown;
  } catch {
    return '';
  }
}

/**
 * Fills a new folder and puts it at `target` without ever deleting the old one first: `fill` writes into a
 * hidden temporary folder beside `target`; then the old `target` (if any) is renamed aside, the new one renamed
 * into place, and only then the old one removed. If `fill` fails, the temporary folder is removed and `target`
 * is untouched.
 */
export async function replaceFolder(target: string, fill: (folder: string) => Promise<void>): Promise<void> {
  const staging = temporaryPathBeside(target, 'new');
  await mkdir(dirname(target), { recursive: true });
  await mkdir(staging);
  try {
    await fill(staging);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  const old = temporaryPathBeside(target, 'old');
  let moved = false;
  try {
    await rename(target, old);
    moved = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  }
  try {
    await rename(staging, target);
  } catch (error) {
    if (moved) await rename(old, target);
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  if (moved) await rm(old, { recursive: true, force: true });
}

/**
 * Removes the half-filled folders and files (`new` temporaries) that commands killed while writing left in
 * `folder`; those of running processes stay. Old folders moved aside are never removed here: they may be
 * the only copy of what a killed swap was replacing.
 */
export async function removeTemporaryLeftovers(folder: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return;
  }
  const pattern = new RegExp(`${TEMPORARY_MARKER.replace(/\./g, '\\.')}new-(\\d+)-[0-9a-f]+$`);
  for (const name of names) {
    const match = pattern.exec(name);
    if (match === null || isProcessAlive(Number(match[1]))) continue;
    await rm(join(folder, name), { recursive: true, force: true });
  }
}

/** The lock path of a directory: a hidden sibling `.NAME.engram-lock`. */
export function lockPathOf(directory: string): string {
  const absolute = resolve(directory);
  return join(dirname(absolute), `.${basename(absolute)}.engram-lock`);
}

/**
 * Runs `action` while holding the lock of `directory` (proper-lockfile: a lock folder beside it, refreshed
 * while held, stale after 10 s without refresh, so a killed command does not block the next one for long).
 * A second command that wants the same directory fails at once, naming it.
 */
export async function withDirectoryLock<T>(directory: string, action: () => Promise<T>): Promise<T> {
  const absolute = resolve(directory);
  await mkdir(dirname(absolute), { recursive: true });
  let compromised: Error | null = null;
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(absolute, {
      realpath: false,
      lockfilePath: lockPathOf(absolute),
      stale: 10_000,
      retries: 0,
      onCompromised: (error) => {
        compromised = error;
      },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new CliError(
        `${directory} is in use by another engram command (lock ${lockPathOf(absolute)}): wait for it to finish (the lock of a killed command expires 10 s after it died), or use another directory`,
        { cause: error },
      );
    }
    throw error;
  }
  try {
    return await action();
  } finally {
    if (compromised === null) await release().catch(() => undefined);
  }
}

/** What a bounded read is for, for its messages. */
export interface ReadLimits {
  /** Largest size accepted, in bytes. */
  maxBytes: number;
  /** What the file is, e.g. `the tokenizer`, and the flag or fix to name. */
  what: string;
}

/**
 * Refuses anything but a regular file no larger than `maxBytes` (directories, FIFOs, devices, sockets,
 * missing files), before a byte is read.
 */
export async function checkRegularFile(path: string, limits: ReadLimits): Promise<number> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw fileSystemError(error, path, `read ${limits.what}`);
  }
  if (!info.isFile()) {
    const kind = info.isDirectory()
      ? 'a directory'
      : info.isFIFO()
        ? 'a FIFO (named pipe)'
        : info.isCharacterDevice() || info.isBlockDevice()
          ? 'a device'
          : info.isSocket()
            ? 'a socket'
            : 'not a regular file';
    throw new InputError(path, `${path} is ${kind}, not a file: give ${limits.what} as a regular file`);
  }
  if (info.size > limits.maxBytes) {
    throw new InputError(
      path,
      `${path} has ${info.size.toLocaleString('en-US')} bytes, more than the ${limits.maxBytes.toLocaleString('en-US')} accepted for ${limits.what}: is it the right file?`,
    );
  }
  return info.size;
}

/** Reads a regular file of at most `maxBytes` (see {@link checkRegularFile}) as text. */
export async function readTextFile(path: string, limits: ReadLimits): Promise<string> {
  await checkRegularFile(path, limits);
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw fileSystemError(error, path, `read ${limits.what}`);
  }
}

/** Parses JSON text, naming the file and the fix when it is not JSON. */
export function parseJsonFile(text: string, path: string, fix: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InputError(path, `${path} is not valid JSON (${(error as Error).message}): ${fix}`, { cause: error });
  }
}

/** Size limit of small JSON and YAML files the commands read (configurations, engram.json, meta.json). */
export const SMALL_FILE_BYTES = 16 * 1024 * 1024;
/** Size limit of tokenizer.json (a word vocabulary of a few million words fits). */
export const TOKENIZER_FILE_BYTES = 512 * 1024 * 1024;

const FILE_SYSTEM_ADVICE: Record<string, string> = {
  ENOSPC: 'no space left on the device: free some space or choose another location',
  EDQUOT: 'the disk quota is exceeded: free some space or choose another location',
  EACCES: 'permission denied: check the permissions or choose another location',
  EPERM: 'operation not permitted: check the permissions or choose another location',
  EROFS: 'the file system is read-only: choose another location',
  ENOENT: 'no such file or directory: check the path',
  EEXIST: 'something is already there (a file where a folder is needed?): choose another path',
  ENOTDIR: 'a part of the path is a file, not a folder: check the path',
  EISDIR: 'it is a directory, not a file: check the path',
  EMFILE: 'too many open files: raise the limit (ulimit -n) and try again',
};

/** Node's file-system error codes that {@link fileSystemError} explains. */
export const explainedFileSystemCodes = Object.keys(FILE_SYSTEM_ADVICE);

/**
 * A CliError for a failed file-system call, naming the user's `path` (never the temporary file the
 * call really touched), what was being done, and what to do. Other errors are returned unchanged.
 */
export function fileSystemError(error: unknown, path: string, doing: string): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string' || !(code in FILE_SYSTEM_ADVICE)) return error;
  return new CliError(`cannot ${doing} (${path}): ${FILE_SYSTEM_ADVICE[code]} [${code}]`, { cause: error });
}

/** Runs `action`, turning file-system errors into {@link fileSystemError}s about `path`. */
export async function naming<T>(path: string, doing: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    throw fileSystemError(error, path, doing);
  }
}

/** Refuses `--out` values that would replace the source or something that holds it. */
export function assertOutsideSource(out: string, source: string, flag: string): void {
  const target = resolve(out);
  const from = resolve(source);
  if (from === target || from.startsWith(`${target}/`)) {
    throw new UsageError(`${flag} ${out} is or contains the source ${source}: choose another ${flag}`);
  }
}

