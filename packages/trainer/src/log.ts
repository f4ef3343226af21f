// JSON-lines training log: one JSON object per line, appended and handed to the OS after every record; resumable.
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { TrainerError } from './errors.js';

/**
 * JSON has no NaN or Infinity: non-finite numbers are written as the strings `"NaN"`,
 * `"Infinity"` and `"-Infinity"` (so a skipped step still shows its loss), and read back as numbers by
 * {@link readJsonLines}.
 */
function replaceNonFinite(_key: string, value: unknown): unknown {
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return value;
}

const NON_FINITE = new Map<string, number>([
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
]);

/** Reads the strings written for non-finite numbers back as numbers (any string exactly `"NaN"`, `"Infinity"`, `"-Infinity"`). */
function reviveNonFinite(_key: string, value: unknown): unknown {
  if (typeof value === 'string') {
    const number = NON_FINITE.get(value);
    if (number !== undefined) return number;
  }
  return value;
}

/** The result of reading a JSON-lines file. */
export interface JsonLinesContent<T = Record<string, unknown>> {
  records: T[];
  /** True when the last line was cut off (a crash while writing it); it is not in `records`. */
  truncatedTail: boolean;
}

/**
 * Reads a JSON-lines log. A last line without its newline (the process was killed while writing
 * it) is dropped and reported in `truncatedTail`; any other unparsable line is an error.
 */
export function readJsonLines<T = Record<string, unknown>>(path: string): JsonLinesContent<T> {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const last = lines.pop() ?? '';
  const truncatedTail = last.length > 0;
  const records: T[] = [];
  lines.forEach((line, index) => {
    if (line.trim().length === 0) return;
    try {
      records.push(JSON.parse(line, reviveNonFinite) as T);
    } catch (cause) {
      throw new TrainerError(
        `readJsonLines: line ${index + 1} of ${path} is not valid JSON (${(cause as Error).message}). The log was edited or corrupted.`,
        { cause },
      );
    }
  });
  return { records, truncatedTail };
}

/**
 * A file descriptor that is only appended to: each {@link append} is written whole before it returns
 * (a killed process cuts at most the last piece), {@link sync} fsyncs, {@link close} fsyncs and closes.
 */
export class AppendOnlyFile {
  #descriptor: number | null;
  readonly path: string;
  readonly #owner: string;

  /** Wraps an open descriptor of `path`; `owner` names the writer in errors. */
  constructor(path: string, descriptor: number, owner: string) {
    this.path = path;
    this.#descriptor = descriptor;
    this.#owner = owner;
  }

  append(bytes: Uint8Array): void {
    if (this.#descriptor === null) throw new TrainerError(`${this.#owner}: ${this.path} is closed; open a new writer to add records.`);
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(this.#descriptor, bytes, offset, bytes.length - offset);
  }

  sync(): void {
    if (this.#descriptor !== null) fsyncSync(this.#descriptor);
  }

  close(): void {
    if (this.#descriptor === null) return;
    fsyncSync(this.#descriptor);
    closeSync(this.#descriptor);
    this.#descriptor = null;
  }
}

/**
 * Appends JSON records to a file, one per line. Each {@link write} is a single `write(2)` of the
 * whole line, so a killed process leaves at most one cut-off last line; {@link close} fsyncs.
 */
export class JsonLinesWriter {
  #file: AppendOnlyFile;
  readonly path: string;
  /** Bytes of a cut-off last line removed when the file was opened for appending. */
  readonly repairedBytes: number;

  private constructor(path: string, descriptor: number, repairedBytes: number) {
    this.path = path;
    this.#file = new AppendOnlyFile(path, descriptor, 'JsonLinesWriter');
    this.repairedBytes = repairedBytes;
  }

  /**
   * Opens `path` for writing. With `append: false` the file is replaced; with `append: true`
   * records are added at the end, after removing a cut-off last line left by a crash.
   */
  static open(path: string, options: { append: boolean }): JsonLinesWriter {
    mkdirSync(dirname(path), { recursive: true });
    if (!options.append || !existsSync(path)) {
      const descriptor = openSync(path, 'w');
      return new JsonLinesWriter(path, descriptor, 0);
    }
    const descriptor = openSync(path, 'r+');
    const size = fstatSync(descriptor).size;
    let keep = size;
    if (size > 0) {
      // Walk back from the end to the last newline: anything after it is a cut-off record.
      const chunk = Buffer.alloc(Math.min(size, 1 << 16));
      let position = size;
      let found = false;
      while (position > 0 && !found) {
        const length = Math.min(chunk.length, position);
        position -= length;
        readSync(descriptor, chunk, 0, length, position);
        for (let index = length - 1; index >= 0; index -= 1) {
          if (chunk[index] === 0x0a) {
            keep = position + index + 1;
            found = true;
            break;
          }
        }
      }
      if (!found) keep = 0;
      if (keep < size) ftruncateSync(descriptor, keep);
    }
    closeSync(descriptor);
    const appendDescriptor = openSync(path, 'a');
    return new JsonLinesWriter(path, appendDescriptor, size - keep);
  }

  /** Writes one record as a line (non-finite numbers become strings, see {@link readJsonLines}). */
  write(record: Record<string, unknown>): void {
    this.#file.append(Buffer.from(`${JSON.stringify(record, replaceNonFinite)}\n`, 'utf8'));
  }

  /** Forces written records to stable storage (used before a checkpoint is published). */
  sync(): void {
    this.#file.sync();
  }

  close(): void {
    this.#file.close();
  }
}

/** A training log as the run that wrote it saw it (see {@link readTrainingLog}). */
export interface TrainingLog {
  /** Every header, in order (one per start or resume). */
  headers: Record<string, unknown>[];
  /** Step records of the steps that count, in step order (a resumed run's records replace those written after its checkpoint). */
  steps: Record<string, unknown>[];
  /** Evaluation records that count, in step order. */
  evaluations: Record<string, unknown>[];
  /** Warning records, in order. */
  warnings: Record<string, unknown>[];
  /** The last `end` record, if the run ended. */
  end: Record<string, unknown> | null;
  /** True when the file ended in a cut-off line. */
  truncatedTail: boolean;
}

/**
 * Reads a training log written by `train`, resolving resumes: when a header says
 * `resumedFromStep: s`, the step and evaluation records after `s` written before it (by the
 * interrupted process) are dropped, since the resumed run writes them again.
 */
export function readTrainingLog(path: string): TrainingLog {
  const { records, truncatedTail } = readJsonLines(path);
  const headers: Record<string, unknown>[] = [];
  let steps: Record<string, unknown>[] = [];
  let evaluations: Record<string, unknown>[] = [];
  const warnings: Record<string, unknown>[] = [];
  let end: Record<string, unknown> | null = null;
  for (const record of records) {
    switch (record.type) {
      case 'header': {
        headers.push(record);
        const resumed = record.resumedFromStep;
        if (typeof resumed === 'number') {
          steps = steps.filter((entry) => (entry.step as number) <= resumed);
          evaluations = evaluations.filter((entry) => (entry.step as number) <= resumed);
        } else {
          steps = [];
          evaluations = [];
        }
        end = null;
        break;
      }
      case 'step':
        steps.push(record);
        break;
      case 'evaluation':
        evaluations.push(record);
        break;
      case 'warning':
        warnings.push(record);
        break;
      case 'end':
        end = record;
        break;
      default:
        break;
    }
  }
  return { headers, steps, evaluations, warnings, end, truncatedTail };
}
