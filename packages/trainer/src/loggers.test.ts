// Tests of the run loggers: TensorBoard event files read back with CRCs checked (and the CRC32C checked against its known vector), CSV scalars and their resume, custom callbacks in the loop.
import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c } from '@aws-crypto/crc32c';
import { evaluationBatches } from '@engram/datasets';
import { describe, expect, it } from 'vitest';
import type { RunRecord, TrainerCallback } from './callbacks.js';
import { CsvLogger, TensorBoardLogger, scalarsOf } from './loggers.js';
import { EventFileWriter, EVENT_FILE_VERSION, frameRecord, maskedCrc32c, readEventFile, SESSION_START } from './tensorboard.js';
import { createTinyBatcher, createTinyModel, tinyTokens } from './testing/fixtures.js';
import { temporaryFolderEachTest } from './testing/runs.js';
import { train } from './train.js';

const folder = temporaryFolderEachTest('engram-loggers-');

describe('TFRecord framing', () => {
  it('uses CRC32C (Castagnoli) with the TFRecord mask', () => {
    // The check value of CRC-32C: "123456789" -> 0xE3069283 (RFC 3720, appendix B.4).
    expect(crc32c(Buffer.from('123456789')) >>> 0).toBe(0xe3069283);
    // Mask by hand: rotate right by 15 bits, add 0xa282ead8 modulo 2^32.
    const crc = 0xe3069283;
    const masked = ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) % 2 ** 32;
    expect(maskedCrc32c(Buffer.from('123456789'))).toBe(masked);
  });

  it('frames a record as length, masked length CRC, data, masked data CRC', () => {
    const data = Buffer.from('hello');
    const record = frameRecord(data);
    expect(record.length).toBe(8 + 4 + 5 + 4);
    expect(record.readBigUInt64LE(0)).toBe(5n);
    expect(record.readUInt32LE(8)).toBe(maskedCrc32c(record.subarray(0, 8)));
    expect(record.subarray(12, 17).toString()).toBe('hello');
    expect(record.readUInt32LE(17)).toBe(maskedCrc32c(data));
  });

  it('writes events that read back, including a scalar of exactly 0, and rejects a flipped byte', () => {
    const directory = folder();
    const writer = new EventFileWriter(directory);
    writer.scalars(3, { 'train/loss': 1.5, 'train/zero': 0, 'train/nan': Number.NaN }, 1000.25);
    writer.write({ wallTime: 1001, step: 4, sessionStatus: SESSION_START });
    writer.close();
    expect(writer.path).toMatch(/events\.out\.tfevents\.\d+\./);
    const { events, truncatedTail } = readEventFile(writer.path);
    expect(truncatedTail).toBe(false);
    expect(events[0]).toMatchObject({ step: 0, fileVersion: EVENT_FILE_VERSION });
    expect(events[1]?.step).toBe(3);
    expect(events[1]?.wallTime).toBe(1000.25);
    expect(events[1]?.scalars?.['train/loss']).toBe(1.5);
    expect(events[1]?.scalars).toHaveProperty('train/zero', 0);
    expect(Number.isNaN(events[1]?.scalars?.['train/nan'])).toBe(true);
    expect(events[2]).toMatchObject({ step: 4, sessionStatus: SESSION_START });

    const bytes = readFileSync(writer.path);
    const corrupt = join(directory, 'corrupt.tfevents');
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 6] = (flipped[flipped.length - 6] as number) ^ 0xff;
    writeFileSync(corrupt, flipped);
    expect(() => readEventFile(corrupt)).toThrow(/CRC .* does not match/);
    truncateSync(writer.path, bytes.length - 3);
    expect(readEventFile(writer.path)).toMatchObject({ truncatedTail: true, events: { length: 2 } });
  });
});

describe('loggers in a training run', () => {
  it('writes the same scalars to TensorBoard and CSV, and custom callbacks see every event in order', async () => {
    const directory = folder();
    const tokens = tinyTokens();
    const events: string[] = [];
    const spy: TrainerCallback = {
      onStart: (header) => void events.push(`start ${header.resumedFromStep}`),
      onStep: (record) => void events.push(`step ${record.step}`),
      onEvaluationStart: (info) => void events.push(`evaluating ${info.split} ${info.totalBatches}`),
      onEvaluation: (record) => void events.push(`evaluation ${record.step}`),
      onCheckpoint: (record) => void events.push(`checkpoint ${record.step}`),
      onEnd: (record) => void events.push(`end ${record.reason}`),
      close: () => void events.push('close'),
    };
    const tensorBoard = new TensorBoardLogger(join(directory, 'tb'));
    const csv = new CsvLogger(join(directory, 'scalars.csv'));
    const valid = tokens.subarray(0, 100);
    await train({
      model: createTinyModel(),
      data: createTinyBatcher(),
      evaluation: { batches: () => evaluationBatches(valid, { batchSize: 2, segmentLength: 8 }), name: 'valid', totalBatches: 7 },
      steps: 4,
      evalEvery: 2,
      schedule: { learningRate: 3e-3 },
      checkpoint: { directory: join(directory, 'checkpoints'), every: 4 },
      loggers: [tensorBoard, csv],
      callbacks: [spy],
      progress: 'none',
    });
    // Custom callbacks come after the standard ones: the evaluation and checkpoint a step triggers reach
    // them (nested) before their own onStep of that step.
    expect(events).toEqual([
      'start null',
      'step 1',
      'evaluating valid 7',
      'evaluation 2',
      'checkpoint 2',
      'step 2',
      'step 3',
      'evaluating valid 7',
      'evaluation 4',
      'checkpoint 4',
      'step 4',
      'end completed',
      'close',
    ]);

    const files = readdirSync(join(directory, 'tb'));
    expect(files).toHaveLength(1);
    const { events: written } = readEventFile(join(directory, 'tb', files[0] as string));
    const scalars = written.filter((event) => event.scalars !== undefined);
    expect(scalars.map((event) => event.step)).toEqual([1, 2, 2, 3, 4, 4]);
    const first = scalars[0]?.scalars ?? {};
    for (const tag of ['train/bits_per_token', 'train/loss', 'train/learning_rate', 'train/gradient_norm', 'memory/slots/layer_0', 'memory/slots/layer_1']) {
      expect(first).toHaveProperty(tag);
    }
    expect(first['train/learning_rate']).toBeCloseTo(3e-3, 8);
    expect(first['memory/slots/layer_0']).toBe(8);
    expect(scalars[2]?.scalars).toHaveProperty('valid/bits_per_token');

    const rows = readFileSync(join(directory, 'scalars.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).toBe('step,tag,value,time');
    // Every TensorBoard scalar is a CSV row, with the same value up to float32 rounding.
    const csvValues = new Map(rows.slice(1).map((row) => {
      const [step, tag, value] = row.split(',');
      return [`${step} ${tag}`, Number(value)];
    }));
    let count = 0;
    for (const event of scalars) {
      for (const [tag, value] of Object.entries(event.scalars ?? {})) {
        count += 1;
        expect(Math.fround(csvValues.get(`${event.step} ${tag}`) as number)).toBe(value);
      }
    }
    expect(csvValues.size).toBe(count);
  });

  it('drops the CSV rows of steps after the checkpoint on resume, and starts a new event file with a session START', () => {
    const directory = folder();
    const path = join(directory, 'scalars.csv');
    const step = (n: number): RunRecord =>
      ({
        type: 'step', step: n, epoch: 0, loss: 1, taskLoss: 1, auxiliaryLoss: 0, separateLoss: null, gradientNorm: 1, learningRate: 1,
        applied: true, nonFiniteInARow: 0, nonFiniteTotal: 0, tokens: 1, seconds: 1, tokensPerSecond: 1, tensorBytes: 1, peakTensorBytes: 1,
        rssBytes: 1, memorySlots: [], telemetry: {}, time: '2026-01-01T00:00:00.000Z',
      }) as RunRecord;
    const first = new CsvLogger(path);
    first.open({ resumedFromStep: null });
    for (let n = 1; n <= 5; n += 1) first.write(step(n));
    first.close();
    writeFileSync(path, `${readFileSync(path, 'utf8')}6,train/lo`);
    const resumed = new CsvLogger(path);
    expect(resumed.open({ resumedFromStep: 3 })[0]).toMatch(/removed a cut-off last line/);
    resumed.write(step(4));
    resumed.close();
    const steps = readFileSync(path, 'utf8').trim().split('\n').slice(1).map((row) => Number(row.split(',')[0]));
    const perStep = Object.keys(scalarsOf(step(1))?.values ?? {}).length;
    expect(steps).toEqual([1, 2, 3, 4].flatMap((n) => Array.from({ length: perStep }, () => n)));

    const tb = new TensorBoardLogger(join(directory, 'tb'));
    tb.open({ resumedFromStep: 3 });
    const eventFile = tb.path as string;
    tb.close();
    expect(readEventFile(eventFile).events.map((event) => [event.step, event.sessionStatus ?? null])).toEqual([
      [0, null],
      [4, SESSION_START],
    ]);
  });
});

describe('warnings', () => {
  it('print once, above the progress, when the caller takes no onWarning', async () => {
    const directory = folder();
    const base = {
      schedule: { learningRate: 3e-3 },
      checkpoint: { directory: join(directory, 'checkpoints'), every: 2 },
      log: { path: join(directory, 'train.jsonl') },
    };
    await train({ ...base, data: createTinyBatcher(), model: createTinyModel(), steps: 2, progress: 'none' });
    writeFileSync(base.log.path, `${readFileSync(base.log.path, 'utf8')}{"type":"st`);
    let printed = '';
    const stream = { write: (text: string) => ((printed += text), true), isTTY: false } as unknown as NodeJS.WritableStream;
    await train({ ...base, data: createTinyBatcher(), model: createTinyModel(), steps: 3, resume: true, progress: 'lines', progressStream: stream });
    expect(printed.match(/removed a cut-off last line/g)).toHaveLength(1);
    expect(printed).toMatch(/^warning: removed a cut-off last line \(11 bytes\)/m);
    expect(printed).toMatch(/^done: 1 steps \(to step 3\)/m);
  });
});
