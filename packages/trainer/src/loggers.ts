// Run loggers: the Logger interface, the scalars of a record (one naming for every viewer), and the JSON-lines, CSV and TensorBoard loggers.
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomicSync } from '@engram/core/node';
import type { RunRecord } from './callbacks.js';
import { TrainerError } from './errors.js';
import { AppendOnlyFile, JsonLinesWriter } from './log.js';
import { EventFileWriter, SESSION_START } from './tensorboard.js';

/** Where a run's records go. The loop opens every logger before the header and closes it at the end. */
export interface Logger {
  /**
   * Opens the logger for a fresh run (`resumedFromStep` null: replace earlier output) or a resumed one
   * (keep what covers steps up to `resumedFromStep`). Returns warnings (e.g. a repaired file) for the run.
   */
  open(context: { resumedFromStep: number | null }): string[];
  write(record: RunRecord): void;
  /** Hands written records to stable storage (called before a checkpoint is published). */
  sync(): void;
  close(): void;
}

const LN2 = Math.log(2);

/**
 * The scalars of a record under their viewer tags (TensorBoard, CSV, `engram plot`):
 * `train/bits_per_token` (the task loss in bits), `train/loss` (nats, with auxiliary losses),
 * `train/learning_rate`, `train/gradient_norm`, `train/tokens_per_second`, `memory/tensor_bytes`,
 * `memory/rss_bytes`, `memory/slots/layer_<i>`, `memory/<telemetry>/layer_<i>` (spans, compressed
 * slots) and for evaluations `<split>/bits_per_token`, `<split>/perplexity`, `<split>/word_perplexity`,
 * `<split>/error_rate`. Records without scalars give null.
 */
export function scalarsOf(record: RunRecord): { step: number; values: Record<string, number> } | null {
  if (record.type === 'step') {
    const values: Record<string, number> = {
      'train/bits_per_token': record.taskLoss / LN2,
      'train/loss': record.loss,
      'train/learning_rate': record.learningRate,
      'train/gradient_norm': record.gradientNorm,
      'train/tokens_per_second': record.tokensPerSecond,
      'memory/tensor_bytes': record.tensorBytes,
      'memory/rss_bytes': record.rssBytes,
    };
    if (record.auxiliaryLoss !== 0) values['train/auxiliary_loss'] = record.auxiliaryLoss;
    if (record.separateLoss !== null) values['train/separate_loss'] = record.separateLoss;
    record.memorySlots.forEach((slots, layer) => {
      values[`memory/slots/layer_${layer}`] = slots;
    });
    for (const [name, perLayer] of Object.entries(record.telemetry)) {
      perLayer.forEach((value, layer) => {
        values[`memory/${name}/layer_${layer}`] = value;
      });
    }
    return { step: record.step, values };
  }
  if (record.type === 'evaluation') {
    const values: Record<string, number> = {
      [`${record.split}/bits_per_token`]: record.bitsPerToken,
      [`${record.split}/perplexity`]: record.perplexity,
    };
    if (record.wordLevelPerplexity !== undefined) values[`${record.split}/word_perplexity`] = record.wordLevelPerplexity;
    if (record.errorRate !== undefined) values[`${record.split}/error_rate`] = record.errorRate;
    return { step: record.step, values };
  }
  return null;
}

/** `train.jsonl`: every record as one JSON line (see `readTrainingLog`). */
export class JsonLinesLogger implements Logger {
  readonly path: string;
  #writer: JsonLinesWriter | null = null;

  constructor(path: string) {
    this.path = path;
  }

  open(context: { resumedFromStep: number | null }): string[] {
    this.#writer = JsonLinesWriter.open(this.path, { append: context.resumedFromStep !== null });
    const repaired = this.#writer.repairedBytes;
    return repaired > 0 ? [`removed a cut-off last line (${repaired} bytes) from ${this.path}`] : [];
  }

  write(record: RunRecord): void {
    this.#writer?.write(record as unknown as Record<string, unknown>);
  }

  sync(): void {
    this.#writer?.sync();
  }

  close(): void {
    this.#writer?.close();
    this.#writer = null;
  }
}

/** Column names of {@link CsvLogger} files. */
export const CSV_COLUMNS = ['step', 'tag', 'value', 'time'] as const;

/**
 * A CSV of scalars, one row per scalar: `step,tag,value,time` (tags of {@link scalarsOf}). On resume the
 * rows of steps after the checkpoint (written by the interrupted process) are dropped, so the file always
 * reads as one uninterrupted run.
 */
export class CsvLogger implements Logger {
  readonly path: string;
  #file: AppendOnlyFile | null = null;

  constructor(path: string) {
    this.path = path;
  }

  open(context: { resumedFromStep: number | null }): string[] {
    mkdirSync(dirname(this.path), { recursive: true });
    const header = `${CSV_COLUMNS.join(',')}\n`;
    const warnings: string[] = [];
    if (context.resumedFromStep === null || !existsSync(this.path)) {
      writeFileAtomicSync(this.path, header);
    } else {
      const lines = readFileSync(this.path, 'utf8').split('\n');
      const tail = lines.pop() ?? '';
      if (tail.length > 0) warnings.push(`removed a cut-off last line (${Buffer.byteLength(tail)} bytes) from ${this.path}`);
      const kept = lines.slice(1).filter((line) => line.length > 0 && Number(line.slice(0, line.indexOf(','))) <= (context.resumedFromStep as number));
      writeFileAtomicSync(this.path, header + kept.map((line) => `${line}\n`).join(''));
    }
    this.#file = new AppendOnlyFile(this.path, openSync(this.path, 'a'), 'CsvLogger');
    return warnings;
  }

  write(record: RunRecord): void {
    const scalars = scalarsOf(record);
    if (scalars === null) return;
    if (this.#file === null) throw new TrainerError(`CsvLogger: ${this.path} is not open; the training loop opens it.`);
    const time = 'time' in record ? record.time : new Date().toISOString();
    // Tags never hold commas or quotes (split names and telemetry names are identifiers).
    const rows = Object.entries(scalars.values).map(([tag, value]) => `${scalars.step},${tag},${String(value)},${time}\n`);
    this.#file.append(Buffer.from(rows.join(''), 'utf8'));
  }

  sync(): void {
    this.#file?.sync();
  }

  close(): void {
    this.#file?.close();
    this.#file = null;
  }
}

/**
 * TensorBoard event files in `directory` (`tensorboard --logdir <directory>`): the scalars of
 * {@link scalarsOf}. Each start or resume writes a new file; a resumed one begins with a session START at
 * the first step it runs, which makes TensorBoard drop the interrupted process's later points.
 */
export class TensorBoardLogger implements Logger {
  readonly directory: string;
  #writer: EventFileWriter | null = null;

  constructor(directory: string) {
    this.directory = directory;
  }

  /** The event file being written (null before `open`). */
  get path(): string | null {
    return this.#writer?.path ?? null;
  }

  open(context: { resumedFromStep: number | null }): string[] {
    this.#writer = new EventFileWriter(this.directory);
    if (context.resumedFromStep !== null) {
      this.#writer.write({ wallTime: Date.now() / 1000, step: context.resumedFromStep + 1, sessionStatus: SESSION_START });
    }
    return [];
  }

  write(record: RunRecord): void {
    const scalars = scalarsOf(record);
    if (scalars === null || this.#writer === null) return;
    const wallTime = 'time' in record ? Date.parse(record.time) / 1000 : Date.now() / 1000;
    this.#writer.scalars(scalars.step, scalars.values, wallTime);
  }

  sync(): void {
    this.#writer?.sync();
  }

  close(): void {
    this.#writer?.close();
    this.#writer = null;
  }
}
