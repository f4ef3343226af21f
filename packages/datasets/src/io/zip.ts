// Zip reading (yauzl): list members and extract chosen ones to temporary files, checking size and CRC-32 before renaming them into place.
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import { CorruptArchiveError, IntegrityError, MissingSplitError } from '../errors.js';
import { formatBytes, removeQuietly, temporaryPathFor } from './files.js';

/** One file inside a zip archive. */
export interface ZipMemberInfo {
  name: string;
  uncompressedSize: number;
  compressedSize: number;
}

/** A member to extract, where to put it, and optionally the size it must have. */
export interface ZipExtraction {
  /** Member name inside the archive, e.g. `wikitext-103/wiki.train.tokens`. */
  member: string;
  /** Split this member holds (for error messages), e.g. `train`. */
  split?: string;
  destination: string;
  expectedSize?: number | null;
}

/** True when the first bytes of the file look like a zip archive (local header or empty-archive record). */
export async function looksLikeZip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    if (bytesRead < 4) return false;
    return head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 0x03 && head[3] === 0x04) || (head[2] === 0x05 && head[3] === 0x06));
  } finally {
    await handle.close();
  }
}

async function openZip(path: string): Promise<yauzl.ZipFile> {
  try {
    return await yauzl.openPromise(path, { lazyEntries: true, autoClose: false, validateEntrySizes: true, strictFileNames: false });
  } catch (error) {
    throw new CorruptArchiveError(path, error instanceof Error ? error.message : String(error), { cause: error });
  }
}

/** Lists the file members of a zip (folders omitted). */
export async function listZipMembers(path: string): Promise<ZipMemberInfo[]> {
  const zip = await openZip(path);
  const members: ZipMemberInfo[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) continue;
      members.push({ name: entry.fileName, uncompressedSize: entry.uncompressedSize, compressedSize: entry.compressedSize });
    }
  } catch (error) {
    if (error instanceof CorruptArchiveError) throw error;
    throw new CorruptArchiveError(path, error instanceof Error ? error.message : String(error), { cause: error });
  } finally {
    zip.close();
  }
  return members;
}

/**
 * Extracts the requested members. Each is written to a hidden temporary file beside its
 * destination; its uncompressed size and CRC-32 are checked against the archive's records
 * (and `expectedSize` when given) before it is renamed into place. A member that is not in
 * the archive raises {@link MissingSplitError}; a damaged archive raises {@link CorruptArchiveError}.
 * Either way no partial file is left at any destination.
 */
export async function extractZipMembers(path: string, extractions: readonly ZipExtraction[]): Promise<void> {
  const wanted = new Map(extractions.map((item) => [item.member, item]));
  const found = new Set<string>();
  const zip = await openZip(path);
  try {
    for await (const entry of zip.eachEntry()) {
      const extraction = wanted.get(entry.fileName);
      if (extraction === undefined) continue;
      found.add(entry.fileName);
      await extractEntry(path, zip, entry, extraction);
    }
  } catch (error) {
    if (error instanceof CorruptArchiveError || error instanceof IntegrityError) throw error;
    throw new CorruptArchiveError(path, error instanceof Error ? error.message : String(error), { cause: error });
  } finally {
    zip.close();
  }
  for (const extraction of extractions) {
    if (!found.has(extraction.member)) {
      throw new MissingSplitError(
        path,
        extraction.split ?? extraction.member,
        `a member named "${extraction.member}"`,
        'The archive is not the expected corpus file; check the source or base URL, or pass the right file as `source`.',
      );
    }
  }
}

async function extractEntry(zipPath: string, zip: yauzl.ZipFile, entry: yauzl.Entry, extraction: ZipExtraction): Promise<void> {
  await mkdir(dirname(extraction.destination), { recursive: true });
  const temporary = temporaryPathFor(extraction.destination);
  try {
    let checksum = 0;
    let written = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        checksum = crc32(chunk, checksum);
        written += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      const stream = await zip.openReadStreamPromise(entry);
      await pipeline(stream, meter, createWriteStream(temporary));
    } catch (error) {
      throw new CorruptArchiveError(zipPath, `member "${entry.fileName}": ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (written !== entry.uncompressedSize) {
      throw new CorruptArchiveError(zipPath, `member "${entry.fileName}" unpacked to ${formatBytes(written)}, the archive records ${formatBytes(entry.uncompressedSize)}`);
    }
    if (checksum >>> 0 !== entry.crc32 >>> 0) {
      throw new CorruptArchiveError(zipPath, `member "${entry.fileName}" fails its CRC-32 check`);
    }
    const expected = extraction.expectedSize ?? null;
    if (expected !== null && written !== expected) {
      throw new IntegrityError(
        `${zipPath} (member "${entry.fileName}")`,
        'size',
        formatBytes(expected),
        formatBytes(written),
        'The archive does not hold the expected corpus; nothing was extracted. Delete it and download it again, or check the source.',
      );
    }
    const handle = await open(temporary, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, extraction.destination);
  } finally {
    await removeQuietly(temporary);
  }
}
