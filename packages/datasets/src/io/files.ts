// File helpers shared by downloads, extraction and tokenizer files: temporary names beside the target, sizes and streaming hashes.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Hash algorithms whose digests the corpus table and PG-19 listing provide. */
export type ChecksumAlgorithm = 'sha256' | 'md5';

/** A known digest of a file, as lowercase hexadecimal. */
export interface FileChecksum {
  algorithm: ChecksumAlgorithm;
  hex: string;
}

/**
 * A fresh temporary path in the same folder as `destination` (so the final rename is atomic),
 * hidden and marked `.partial` so a crash never leaves something that looks finished.
 */
export function temporaryPathFor(destination: string): string {
  const suffix = `${process.pid}.${randomBytes(6).toString('hex')}.partial`;
  return join(dirname(destination), `.${basename(destination)}.${suffix}`);
}

/** Size of a regular file in bytes, or null if it does not exist (or is not a file). */
export async function regularFileSize(path: string): Promise<number | null> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : null;
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

/** Hex digest of a whole file, read as a stream. */
export async function hashFile(path: string, algorithm: ChecksumAlgorithm): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Removes a file if it exists; never throws for a missing file. */
export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { force: true }).catch(() => undefined);
}

/** True for "no such file or directory" errors. */
export function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}

/** Formats a byte count with thousands separators, e.g. `36,445,475 bytes`. */
export function formatBytes(bytes: number): string {
  return `${bytes.toLocaleString('en-US')} bytes`;
}

/** Reads up to `length` bytes of the file at `path` from byte `start` (fewer at the end of the file). */
export async function readFileWindow(path: string, start: number, length: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buffer = new Uint8Array(length);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, start + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}
