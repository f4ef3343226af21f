// Safetensors reader/writer: 8-byte little-endian header length, JSON header, raw little-endian tensor data.
import * as tf from '@tensorflow/tfjs';
import { SafetensorsError } from './errors.js';

/** Element types of the safetensors format that this reader understands. */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U32' | 'U16' | 'U8' | 'BOOL';

const BYTES: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** Largest header accepted (as the reference implementation: 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

/** Contents of a safetensors file, decoded into TensorFlow.js tensors owned by the caller. */
export interface SafetensorsContents {
  tensors: Record<string, tf.Tensor>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

interface HeaderEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  data_offsets: [number, number];
}

/**
 * Encodes tensors as safetensors bytes. float32 -> F32, int32 -> I32, bool -> BOOL; tensors are
 * written in name order; the header is padded with spaces to a multiple of 8 bytes.
 */
export function encodeSafetensors(tensors: Record<string, tf.Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw new SafetensorsError(`encodeSafetensors: metadata.${key} must be a string (safetensors metadata is a string map), got ${typeof value}.`);
    }
  }
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new SafetensorsError('encodeSafetensors: "__metadata__" is reserved and cannot name a tensor.');
    const tensor = tensors[name] as tf.Tensor;
    if (!(tensor instanceof tf.Tensor) || tensor.isDisposed) {
      throw new SafetensorsError(`encodeSafetensors: "${name}" is not a live tensor.`);
    }
    let dtype: SafetensorsDtype;
    let bytes: Uint8Array;
    if (tensor.dtype === 'float32') {
      dtype = 'F32';
      bytes = littleEndianBytes(Float32Array.from(tensor.dataSync() as Float32Array));
    } else if (tensor.dtype === 'int32') {
      dtype = 'I32';
      bytes = littleEndianBytes(Int32Array.from(tensor.dataSync() as Int32Array));
    } else if (tensor.dtype === 'bool') {
      dtype = 'BOOL';
      bytes = Uint8Array.from(tensor.dataSync() as Uint8Array, (value) => (value ? 1 : 0));
    } else {
      throw new SafetensorsError(
        `encodeSafetensors: "${name}" has dtype ${tensor.dtype}; only float32, int32 and bool tensors can be written. Cast it first.`,
      );
    }
    header[name] = { dtype, shape: [...tensor.shape], data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  const headerBytesLength = new TextEncoder().encode(json).length;
  json += ' '.repeat((8 - (headerBytesLength % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let position = 8 + headerBytes.length;
  for (const chunk of chunks) {
    out.set(chunk, position);
    position += chunk.length;
  }
  return out;
}

function littleEndianBytes(values: Float32Array | Int32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  if (values instanceof Float32Array) values.forEach((value, index) => view.setFloat32(index * 4, value, true));
  else values.forEach((value, index) => view.setInt32(index * 4, value, true));
  return bytes;
}

/**
 * Decodes safetensors bytes into tensors: floating types become float32, integer types int32
 * (64-bit and unsigned 32-bit values must fit), BOOL becomes bool. Validates the header, the
 * offsets (in range, no overlap, no gap, covering the whole data section) and the sizes.
 */
export function decodeSafetensors(bytes: Uint8Array): SafetensorsContents {
  const fail = (message: string): never => {
    throw new SafetensorsError(`decodeSafetensors: ${message}`);
  };
  if (bytes.length < 8) fail(`the file has ${bytes.length} bytes, fewer than the 8-byte header length; it is truncated or not safetensors.`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) fail(`the header length is ${declared} bytes, more than the ${MAX_HEADER_BYTES} allowed; the file is corrupt or not safetensors.`);
  const headerLength = Number(declared);
  if (8 + headerLength > bytes.length) {
    fail(`the header claims ${headerLength} bytes but only ${bytes.length - 8} follow; the file is truncated.`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch (cause) {
    throw new SafetensorsError('decodeSafetensors: the header is not valid UTF-8 JSON; the file is corrupt or not safetensors.', { cause });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('the header is not a JSON object.');
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Array<[string, HeaderEntry]> = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ must be an object of strings.');
      for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof value !== 'string') fail(`__metadata__.${key} must be a string, got ${typeof value}.`);
        metadata[key] = value as string;
      }
      continue;
    }
    const entry = raw as Partial<HeaderEntry> | null;
    if (typeof entry !== 'object' || entry === null) fail(`"${name}" has no {dtype, shape, data_offsets} entry.`);
    const { dtype, shape, data_offsets: offsets } = entry as Partial<HeaderEntry>;
    if (typeof dtype !== 'string' || !(dtype in BYTES)) {
      fail(`"${name}" has dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(BYTES).join(', ')}.`);
    }
    if (!Array.isArray(shape) || !shape.every((size) => Number.isInteger(size) && size >= 0)) {
      fail(`"${name}" has shape ${JSON.stringify(shape)}; expected an array of integers >= 0.`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((value) => Number.isInteger(value) && value >= 0)) {
      fail(`"${name}" has data_offsets ${JSON.stringify(offsets)}; expected [begin, end] integers >= 0.`);
    }
    const [begin, end] = offsets as [number, number];
    const expected = (shape as number[]).reduce((product, size) => product * size, 1) * BYTES[dtype as SafetensorsDtype];
    if (end < begin || end - begin !== expected) {
      fail(`"${name}" spans ${end - begin} bytes but ${dtype} [${(shape as number[]).join(', ')}] needs ${expected}.`);
    }
    if (end > dataLength) {
      fail(`"${name}" ends at byte ${end} of the data section, which has ${dataLength} bytes; the file is truncated.`);
    }
    entries.push([name, { dtype: dtype as SafetensorsDtype, shape: shape as number[], data_offsets: [begin, end] }]);
  }
  const sorted = [...entries].sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  let cursor = 0;
  for (const [name, entry] of sorted) {
    const [begin, end] = entry.data_offsets;
    if (begin !== cursor) {
      fail(`"${name}" starts at byte ${begin} but the previous tensor ends at ${cursor}; tensors must tile the data section without gaps or overlaps.`);
    }
    cursor = end;
  }
  if (cursor !== dataLength) {
    fail(`the tensors cover ${cursor} bytes but the data section has ${dataLength}; the file has trailing bytes or is corrupt.`);
  }
  const tensors: Record<string, tf.Tensor> = {};
  try {
    for (const [name, entry] of entries) {
      const [begin, end] = entry.data_offsets;
      tensors[name] = decodeTensor(name, entry, new DataView(bytes.buffer, bytes.byteOffset + dataStart + begin, end - begin));
    }
  } catch (error) {
    tf.dispose(Object.values(tensors));
    throw error;
  }
  return { tensors, metadata };
}

function decodeTensor(name: string, entry: HeaderEntry, data: DataView): tf.Tensor {
  const size = entry.shape.reduce((product, length) => product * length, 1);
  const width = BYTES[entry.dtype];
  const read = (reader: (offset: number) => number, type: 'float32' | 'int32'): tf.Tensor => {
    const values = type === 'float32' ? new Float32Array(size) : new Int32Array(size);
    for (let index = 0; index < size; index++) values[index] = reader(index * width);
    return tf.tensor(values, entry.shape, type);
  };
  const checkedInteger = (value: number | bigint): number => {
    const number = Number(value);
    if (number > 2147483647 || number < -2147483648) {
      throw new SafetensorsError(
        `decodeSafetensors: "${name}" (${entry.dtype}) holds ${value}, outside int32; TensorFlow.js has no 64-bit integers.`,
      );
    }
    return number;
  };
  switch (entry.dtype) {
    case 'F64':
      return read((offset) => data.getFloat64(offset, true), 'float32');
    case 'F32':
      return read((offset) => data.getFloat32(offset, true), 'float32');
    case 'F16':
      return read((offset) => halfToFloat(data.getUint16(offset, true)), 'float32');
    case 'BF16':
      return read((offset) => {
        const scratch = new DataView(new ArrayBuffer(4));
        scratch.setUint32(0, data.getUint16(offset, true) << 16, true);
        return scratch.getFloat32(0, true);
      }, 'float32');
    case 'I64':
      return read((offset) => checkedInteger(data.getBigInt64(offset, true)), 'int32');
    case 'I32':
      return read((offset) => data.getInt32(offset, true), 'int32');
    case 'I16':
      return read((offset) => data.getInt16(offset, true), 'int32');
    case 'I8':
      return read((offset) => data.getInt8(offset), 'int32');
    case 'U32':
      return read((offset) => checkedInteger(data.getUint32(offset, true)), 'int32');
    case 'U16':
      return read((offset) => data.getUint16(offset, true), 'int32');
    case 'U8':
      return read((offset) => data.getUint8(offset), 'int32');
    case 'BOOL': {
      const values = new Uint8Array(size);
      for (let index = 0; index < size; index++) values[index] = data.getUint8(index) ? 1 : 0;
      return tf.tensor(values, entry.shape, 'bool');
    }
  }
}

function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * Math.pow(2, -14) * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * Math.pow(2, exponent - 15) * (1 + fraction / 1024);
}
