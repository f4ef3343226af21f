// @engram/core/node: the one atomic, durable file writer every Engram package uses (temporary file beside the target, fsync, rename).
import writeFileAtomicLibrary from 'write-file-atomic';

/** What {@link writeFileAtomic} writes: text (as UTF-8) or bytes. */
export type FileContents = Uint8Array | string;

function toWritable(data: FileContents): Buffer | string {
  return typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Writes `data` to `path` atomically and durably: into a temporary file in the same folder, fsync,
 * then a rename over `path`. A crash leaves either the old file or the complete new one, never a
 * cut-off file. Text is written as UTF-8; the folder must exist.
 */
export async function writeFileAtomic(path: string, data: FileContents): Promise<void> {
  await writeFileAtomicLibrary(path, toWritable(data), { encoding: 'utf8', fsync: true });
}

/** The synchronous form of {@link writeFileAtomic} (same temporary file, fsync and rename). */
export function writeFileAtomicSync(path: string, data: FileContents): void {
  writeFileAtomicLibrary.sync(path, toWritable(data), { encoding: 'utf8', fsync: true });
}
