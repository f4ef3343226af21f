// TensorBoard event files: TFRecord framing (length + masked CRC32C, data + masked CRC32C) around Event protobufs holding scalar summaries; writer and reader.
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { crc32c } from '@aws-crypto/crc32c';
import protobuf from 'protobufjs';
import { TrainerError } from './errors.js';
import { AppendOnlyFile } from './log.js';

/**
 * The parts of TensorFlow's `Event`, `Summary` and `SessionLog` messages a scalar log needs (field
 * numbers as TensorBoard reads them: event.proto and summary.proto of TensorFlow). `oneof` keeps presence, so a
 * scalar of exactly 0 is still written.
 */
const schema = protobuf.parse(`
syntax = "proto3";
message SummaryValue {
  string tag = 1;
  oneof value {
    float simple_value = 2;
  }
}
message Summary {
  repeated SummaryValue value = 1;
}
message SessionLog {
  int32 status = 1;
  string checkpoint_path = 2;
  string msg = 3;
}
message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    Summary summary = 5;
    SessionLog session_log = 6;
  }
}
`).root;
const EventType = schema.lookupType('Event');

/** `SessionLog.status` START: TensorBoard drops earlier events of later steps when it reads one (a resumed run). */
export const SESSION_START = 1;

/** The version string TensorBoard expects in the first event of a file. */
export const EVENT_FILE_VERSION = 'brain.Event:2';

/** One event as written or read back. */
export interface TensorBoardEvent {
  /** Seconds since the epoch. */
  wallTime: number;
  step: number;
  fileVersion?: string;
  /** Scalars of this event by tag. */
  scalars?: Record<string, number>;
  /** Session status (1 = START). */
  sessionStatus?: number;
}

/** The CRC32C of `data`, masked as TFRecord stores it (rotate right by 15, add 0xa282ead8). */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

function encodeEvent(event: TensorBoardEvent): Uint8Array {
  const message: Record<string, unknown> = { wallTime: event.wallTime, step: event.step };
  if (event.fileVersion !== undefined) message.fileVersion = event.fileVersion;
  if (event.scalars !== undefined) {
    message.summary = { value: Object.entries(event.scalars).map(([tag, simpleValue]) => ({ tag, simpleValue })) };
  }
  if (event.sessionStatus !== undefined) message.sessionLog = { status: event.sessionStatus };
  return EventType.encode(EventType.create(message)).finish();
}

/** One TFRecord: `uint64 length`, `uint32 masked crc of length`, data, `uint32 masked crc of data` (little-endian). */
export function frameRecord(data: Uint8Array): Buffer {
  const record = Buffer.alloc(8 + 4 + data.length + 4);
  record.writeBigUInt64LE(BigInt(data.length), 0);
  record.writeUInt32LE(maskedCrc32c(record.subarray(0, 8)), 8);
  record.set(data, 12);
  record.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return record;
}

/**
 * Reads every event of a TensorBoard event file, checking both CRCs of every record. A last record
 * cut off by a crash is reported in `truncatedTail` and left out; a CRC mismatch is an error.
 */
export function readEventFile(path: string): { events: TensorBoardEvent[]; truncatedTail: boolean } {
  const bytes = readFileSync(path);
  const events: TensorBoardEvent[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 12 > bytes.length) return { events, truncatedTail: true };
    const header = bytes.subarray(offset, offset + 8);
    if (bytes.readUInt32LE(offset + 8) !== maskedCrc32c(header)) {
      throw new TrainerError(`readEventFile: the length CRC of the record at byte ${offset} of ${path} does not match; the file is corrupt.`);
    }
    const length = Number(bytes.readBigUInt64LE(offset));
    const end = offset + 12 + length + 4;
    if (end > bytes.length) return { events, truncatedTail: true };
    const data = bytes.subarray(offset + 12, offset + 12 + length);
    if (bytes.readUInt32LE(offset + 12 + length) !== maskedCrc32c(data)) {
      throw new TrainerError(`readEventFile: the data CRC of the record at byte ${offset} of ${path} does not match; the file is corrupt.`);
    }
    const decoded = EventType.toObject(EventType.decode(data), { longs: Number }) as {
      wallTime?: number;
      step?: number;
      fileVersion?: string;
      summary?: { value?: { tag: string; simpleValue?: number }[] };
      sessionLog?: { status?: number };
    };
    const event: TensorBoardEvent = { wallTime: decoded.wallTime ?? 0, step: decoded.step ?? 0 };
    if (decoded.fileVersion) event.fileVersion = decoded.fileVersion;
    if (decoded.summary !== undefined) {
      event.scalars = {};
      for (const value of decoded.summary.value ?? []) event.scalars[value.tag] = value.simpleValue ?? 0;
    }
    if (decoded.sessionLog !== undefined) event.sessionStatus = decoded.sessionLog.status ?? 0;
    events.push(event);
    offset = end;
  }
  return { events, truncatedTail: false };
}

/**
 * Writes one TensorBoard event file (`events.out.tfevents.<seconds>.<host>.<pid>.<n>` in `directory`). Each
 * event is one `write(2)`, so a killed process leaves at most one cut-off last record; {@link close} fsyncs.
 */
export class EventFileWriter {
  #file: AppendOnlyFile;
  readonly path: string;
  static #opened = 0;

  constructor(directory: string) {
    mkdirSync(directory, { recursive: true });
    EventFileWriter.#opened += 1;
    const seconds = Math.floor(Date.now() / 1000);
    this.path = join(directory, `events.out.tfevents.${seconds}.${hostname()}.${process.pid}.${EventFileWriter.#opened}`);
    this.#file = new AppendOnlyFile(this.path, openSync(this.path, 'wx'), 'EventFileWriter');
    this.write({ wallTime: Date.now() / 1000, step: 0, fileVersion: EVENT_FILE_VERSION });
  }

  /** Appends one event. */
  write(event: TensorBoardEvent): void {
    this.#file.append(frameRecord(encodeEvent(event)));
  }

  /** Appends scalars of one step. */
  scalars(step: number, values: Record<string, number>, wallTime = Date.now() / 1000): void {
    if (Object.keys(values).length > 0) this.write({ wallTime, step, scalars: values });
  }

  sync(): void {
    this.#file.sync();
  }

  close(): void {
    this.#file.close();
  }
}
