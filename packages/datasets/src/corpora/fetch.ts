// Shared steps of the corpus loaders: fetch an archive into the cache (or take a local one), extract members, and clean up a cached archive that turns out to be damaged.
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CorruptArchiveError, InvalidArgumentError } from '../errors.js';
import { downloadFile } from '../io/download.js';
import { removeQuietly, type FileChecksum } from '../io/files.js';
import { extractZipMembers, type ZipExtraction } from '../io/zip.js';
import type { CorpusDownloadOptions } from './types.js';

/** True for `http:`, `https:` and `file:` URLs. */
export function isUrl(location: string): boolean {
  return /^(https?|file):/i.test(location);
}

/** True when `path` is an existing folder. */
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Downloads (or copies, for a local path) a file into the cache with the given checks; returns its cached path. */
export async function fetchIntoCache(
  location: string,
  destination: string,
  checks: { sizeBytes: number | null; checksum: FileChecksum | null },
  options: CorpusDownloadOptions,
  label: string,
): Promise<string> {
  const result = await downloadFile({
    source: location,
    destination,
    expectedSize: checks.sizeBytes,
    checksum: checks.checksum,
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    progressBar: options.progressBar ?? 'auto',
    label,
    ...(options.force === undefined ? {} : { force: options.force }),
    ...(options.retries === undefined ? {} : { retries: options.retries }),
  });
  return result.path;
}

/**
 * Extracts members of an archive. When the archive is one we downloaded into the cache
 * (`ownedByCache`) and it proves damaged, it is deleted so the next run downloads it again
 * (a user's own file is never deleted).
 */
export async function extractFromArchive(archive: string, extractions: readonly ZipExtraction[], ownedByCache: boolean): Promise<void> {
  try {
    await extractZipMembers(archive, extractions);
  } catch (error) {
    if (ownedByCache && error instanceof CorruptArchiveError) await removeQuietly(archive);
    throw error;
  }
}

/** Checks a user-given option holding an exact size (null means "do not check"). */
export function assertOptionalSize(name: string, value: number | null | undefined): void {
  if (value === undefined || value === null) return;
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(name, 'a non-negative integer or null', value);
}

/** Absolute form of a local path (URLs are returned unchanged). */
export function normaliseLocation(location: string): string {
  return isUrl(location) ? location : resolve(location);
}
