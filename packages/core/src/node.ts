// @engram/core/node: the one atomic, durable file writer every Engram package uses (temporary file beside the target, fsync, rename), and the check that a writer's process still runs.
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

/**
 * Whether a process with id `pid` runs on this machine, asked with signal 0 (nothing is sent). A process
 * of another user counts as running (EPERM). Tells the temporary files and locks of a live writer from
 * those a killed one left behind.
 */
export function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: unknown }).code === 'EPERM';
  }
}
