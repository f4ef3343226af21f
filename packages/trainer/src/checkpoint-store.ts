// Checkpoint directories on disk: atomic publication (temporary directory, fsync, manifest with SHA-256 checksums written last, rename), validation, listing and pruning.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { isProcessAlive, writeFileAtomic } from '@engram/core/node';
import { CorruptCheckpointError, TrainerError } from './errors.js';

/** Name of the manifest file inside a checkpoint directory. */
export const MANIFEST_FILE = 'manifest.json';
const DIRECTORY_PATTERN = /^step-(\d{8,})$/;
/** Largest manifest read (a manifest lists a handful of files). */
const MAX_MANIFEST_BYTES = 1024 * 1024;

/** The manifest of a checkpoint: written last, so a checkpoint without it is incomplete. */
export interface CheckpointManifest {
  format: 'engram-checkpoint';
  formatVersion: 1;
  /** Optimizer steps completed when the checkpoint was taken. */
  step: number;
  /** ISO time of writing. */
  createdAt: string;
  /** Every other file of the checkpoint (paths relative to its directory, `/`-separated). */
  files: Record<string, { bytes: number; sha256: string }>;
}

/** A checkpoint directory found by {@link listCheckpoints}. */
export interface CheckpointEntry {
  /** Absolute or caller-relative path of the directory. */
  path: string;
  step: number;
  /** True when the manifest exists and every checksum matches (only checked with `verify: true`). */
  valid: boolean | null;
  /** Why it is not valid. */
  problem?: string;
  manifest?: CheckpointManifest;
}

/** Directory name of the checkpoint of `step`, e.g. `step-00000042`. */
export function checkpointDirectoryName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** SHA-256 of a file as lowercase hex, read as a stream. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function listFilesRecursively(root: string, directory = root): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries) {
    const full = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...(await listFilesRecursively(root, full)));
    else if (entry.isFile()) files.push(relative(root, full).split(sep).join('/'));
  }
  return files.sort();
}

/** fsync a file or directory by path (directories: best effort, not supported on every platform). */
async function syncPath(path: string, isDirectory: boolean): Promise<void> {
  let handle;
  try {
    handle = await open(path, 'r');
    await handle.sync();
  } catch (error) {
    if (!isDirectory) throw error;
  } finally {
    await handle?.close();
  }
}

/**
 * Writes a checkpoint atomically: `write(directory)` fills a hidden temporary directory next to
 * the final one; every file is fsynced and hashed; `manifest.json` (SHA-256 and size of every
 * file) is written last, atomically; the temporary directory is renamed to `step-XXXXXXXX` and
 * the parent directory fsynced. An existing checkpoint of the same step is replaced.
 * @returns the final directory
 */
export async function publishCheckpoint(
  root: string,
  step: number,
  write: (directory: string) => Promise<void>,
): Promise<string> {
  if (!Number.isInteger(step) || step < 0) {
    throw new TrainerError(`publishCheckpoint: step must be an integer >= 0, got ${step}.`);
  }
  await mkdir(root, { recursive: true });
  const name = checkpointDirectoryName(step);
  const unique = `${process.pid}.${randomBytes(4).toString('hex')}`;
  const temporary = join(root, `.${name}.${unique}.partial`);
  await mkdir(temporary);
  try {
    await write(temporary);
    const files: CheckpointManifest['files'] = {};
    for (const file of await listFilesRecursively(temporary)) {
      if (file === MANIFEST_FILE) {
        throw new TrainerError(`publishCheckpoint: the writer must not create ${MANIFEST_FILE}; it is written last by the store.`);
      }
      const full = join(temporary, file);
      await syncPath(full, false);
      files[file] = { bytes: (await stat(full)).size, sha256: await sha256File(full) };
    }
    const manifest: CheckpointManifest = {
      format: 'engram-checkpoint',
      formatVersion: 1,
      step,
      createdAt: new Date().toISOString(),
      files,
    };
    await writeFileAtomic(join(temporary, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
    await syncPath(temporary, true);
    const final = join(root, name);
    let replaced: string | null = null;
    try {
      await stat(final);
      replaced = join(root, `.${name}.${unique}.replaced`);
      await rename(final, replaced);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
    await rename(temporary, final);
    await syncPath(root, true);
    if (replaced !== null) await rm(replaced, { recursive: true, force: true });
    return final;
  } catch (error) {
    await rm(temporary, { recursive: true, force: true });
    throw error;
  }
}

function isManifest(value: unknown): value is CheckpointManifest {
  if (typeof value !== 'object' || value === null) return false;
  const manifest = value as Partial<CheckpointManifest>;
  return (
    manifest.format === 'engram-checkpoint' &&
    manifest.formatVersion === 1 &&
    Number.isInteger(manifest.step) &&
    typeof manifest.files === 'object' &&
    manifest.files !== null
  );
}

/**
 * Checks a checkpoint directory: its manifest exists and parses, and every listed file exists
 * with the listed size and SHA-256. Throws {@link CorruptCheckpointError} naming the problem.
 */
export async function verifyCheckpoint(path: string): Promise<CheckpointManifest> {
  let text: string;
  try {
    const info = await stat(join(path, MANIFEST_FILE));
    if (!info.isFile() || info.size > MAX_MANIFEST_BYTES) {
      throw new CorruptCheckpointError(
        path,
        `${MANIFEST_FILE} is ${info.isFile() ? `${info.size} bytes, more than the ${MAX_MANIFEST_BYTES} a manifest may have` : 'not a regular file'}`,
      );
    }
    text = await readFile(join(path, MANIFEST_FILE), 'utf8');
  } catch (cause) {
    if (cause instanceof CorruptCheckpointError) throw cause;
    throw new CorruptCheckpointError(path, `${MANIFEST_FILE} is missing (the checkpoint was not finished)`, { cause });
  }
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (cause) {
    throw new CorruptCheckpointError(path, `${MANIFEST_FILE} is not valid JSON`, { cause });
  }
  if (!isManifest(manifest)) {
    throw new CorruptCheckpointError(path, `${MANIFEST_FILE} is not an engram-checkpoint manifest of format version 1`);
  }
  for (const [file, expected] of Object.entries(manifest.files)) {
    const full = join(path, ...file.split('/'));
    let size: number;
    try {
      size = (await stat(full)).size;
    } catch (cause) {
      throw new CorruptCheckpointError(path, `file ${file} listed in the manifest is missing`, { cause });
    }
    if (size !== expected.bytes) {
      throw new CorruptCheckpointError(path, `file ${file} has ${size} bytes, the manifest says ${expected.bytes} (truncated?)`);
    }
    const digest = await sha256File(full);
    if (digest !== expected.sha256) {
      throw new CorruptCheckpointError(path, `file ${file} has SHA-256 ${digest}, the manifest says ${expected.sha256}`);
    }
  }
  return manifest;
}

/**
 * Checkpoint directories under `root` (`step-XXXXXXXX`), oldest first. With `verify: true`
 * each one is checked with {@link verifyCheckpoint} (`valid` and `problem` filled in).
 * Temporary directories of unfinished writes are not listed. A missing root gives `[]`.
 */
export async function listCheckpoints(root: string, options: { verify?: boolean } = {}): Promise<CheckpointEntry[]> {
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return [];
    throw error;
  }
  const entries: CheckpointEntry[] = [];
  for (const name of names) {
    const match = DIRECTORY_PATTERN.exec(name);
    if (match === null) continue;
    const entry: CheckpointEntry = { path: join(root, name), step: Number(match[1]), valid: null };
    if (options.verify === true) {
      try {
        entry.manifest = await verifyCheckpoint(entry.path);
        if (entry.manifest.step !== entry.step) {
          entry.valid = false;
          entry.problem = `the manifest is for step ${entry.manifest.step}, the directory name says ${entry.step}`;
        } else {
          entry.valid = true;
        }
      } catch (error) {
        entry.valid = false;
        entry.problem = error instanceof CorruptCheckpointError ? error.message : String(error);
      }
    }
    entries.push(entry);
  }
  return entries.sort((a, b) => a.step - b.step);
}

/**
 * Removes checkpoints except the newest `keepLast` and the steps in `keep` (e.g. the best one).
 * Also removes leftovers of interrupted writes (hidden `.partial` / `.replaced` directories) of
 * this process or of processes that no longer run.
 * @returns the removed directories
 */
export async function pruneCheckpoints(root: string, options: { keepLast: number; keep?: Iterable<number> }): Promise<string[]> {
  const keep = new Set(options.keep ?? []);
  const entries = await listCheckpoints(root);
  const removable = entries.slice(0, Math.max(0, entries.length - options.keepLast)).filter((entry) => !keep.has(entry.step));
  for (const entry of removable) await rm(entry.path, { recursive: true, force: true });
  await removeLeftovers(root);
  return removable.map((entry) => entry.path);
}

/** Removes hidden temporary directories left by writers that are no longer running. */
export async function removeLeftovers(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = /^\.step-\d+\.(\d+)\.[0-9a-f]+\.(partial|replaced)$/.exec(name);
    if (match === null) continue;
    // Leave directories of running writers (this process included) alone.
    if (isProcessAlive(Number(match[1]))) continue;
    await rm(join(root, name), { recursive: true, force: true });
    removed.push(join(root, name));
  }
  return removed;
}
