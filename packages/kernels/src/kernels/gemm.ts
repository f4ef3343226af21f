// The strided SIMD GEMM and blocked transpose of native/gemm.c, compiled from ../wasm/gemm-binary.ts, on a heap.
import { GEMM_WASM_BASE64 } from '../wasm/gemm-binary.js';
import type { WasmHeapBackend } from './wasm-backend.js';
import { isSharedMemory, webAssembly, type WasmInstance, type WasmMemory, type WasmModule } from './webassembly.js';

/** Activation codes of `gemm_f32` (the enum in native/gemm.c). */
export const GEMM_ACTIVATION = { linear: 0, relu: 1, relu6: 2, leakyrelu: 3 } as const;
export type GemmActivation = keyof typeof GEMM_ACTIVATION;

/**
 * One call of `gemm_f32`: `C[g] = act(A[g] B[g] + bias)` for `g < batch`, all offsets in bytes on the heap and all
 * strides in floats. `A[g][i, k] = a + 4 * (g * aBatch + i * aRow + k * aColumn)`, the same for B; C rows are
 * `cRow` floats apart (columns contiguous). A batch stride of 0 reuses one matrix for every g.
 */
export interface GemmCall {
  batch: number;
  m: number;
  n: number;
  k: number;
  a: number;
  aBatch: number;
  aRow: number;
  aColumn: number;
  b: number;
  bBatch: number;
  bRow: number;
  bColumn: number;
  c: number;
  cBatch: number;
  cRow: number;
  /** Byte offset of the bias (0 for none); `biasStride` 1 for one value per column, 0 for a scalar. */
  bias: number;
  biasStride: 0 | 1;
  activation: GemmActivation;
  /** Slope of `leakyrelu` for negative inputs. */
  alpha: number;
}

/**
 * One call of `transpose_32`: `out[o0][o1][o2][o3] = in[o0 s0 + o1 s1 + o2 s2 + o3 s3]` for 32-bit elements, the
 * output contiguous with extents `extents`; byte offsets `input` and `output`, strides in elements. Either `s3` is 1
 * or exactly one of s0..s2 is 1 (the input's contiguous axis).
 */
export interface TransposeCall {
  input: number;
  output: number;
  extents: readonly [number, number, number, number];
  strides: readonly [number, number, number, number];
}

interface GemmExports {
  gemm_f32(...args: number[]): void;
  gemm_scratch_floats(): number;
  transpose_32(...args: number[]): void;
}

/** The GEMM instantiated on one backend's heap, with its packing scratch. */
export interface HeapGemm {
  readonly backend: WasmHeapBackend;
  run(call: GemmCall): void;
  transpose(call: TransposeCall): void;
  /** Frees the packing scratch (allocated again on the next `run`). */
  releaseScratch(): void;
}

let compiled: WasmModule | null = null;
let compiling: Promise<WasmModule> | null = null;

/** Decodes a base64 module (atob: Node 16+ and browsers alike). */
export function base64Bytes(base64: string): Uint8Array {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let index = 0; index < text.length; index++) bytes[index] = text.charCodeAt(index);
  return bytes;
}

const moduleBytes = (): Uint8Array => base64Bytes(GEMM_WASM_BASE64);

/**
 * Compiles the module asynchronously (once). Browsers refuse synchronous compilation of modules over 4 KB on the
 * main thread, so `initBackend` awaits this before registering; Node and workers may skip it.
 */
export function compileGemmModule(): Promise<WasmModule> {
  if (compiled !== null) return Promise.resolve(compiled);
  const pending =
    compiling ??
    webAssembly()
      .compile(moduleBytes())
      .then((module) => {
        compiled = module;
        return module;
      });
  compiling = pending;
  return pending;
}

function compileSync(): WasmModule {
  const module = compiled ?? new (webAssembly().Module)(moduleBytes());
  compiled = module;
  return module;
}

function unsupportedHeap(memory: WasmMemory, cause?: unknown): Error {
  const shared = isSharedMemory(memory);
  const reason = shared
    ? 'the heap is shared memory (the threaded tfjs wasm binary); the GEMM module is built for the unshared heap of ' +
      'the single-threaded SIMD binary'
    : 'the module could not be instantiated on this heap';
  return new Error(`@engram/kernels: the fast kernels cannot run here: ${reason}.`, { cause });
}

function wrap(backend: WasmHeapBackend, instance: WasmInstance): HeapGemm {
  const exports = instance.exports as unknown as GemmExports;
  const scratchBytes = exports.gemm_scratch_floats() * 4;
  let scratch = 0;
  return {
    backend,
    run(call) {
      if (scratch === 0) {
        scratch = backend.wasm._malloc(scratchBytes) >>> 0;
        if (scratch === 0) throw new Error(`@engram/kernels: the wasm heap has no room for ${scratchBytes} bytes of GEMM scratch`);
      }
      exports.gemm_f32(
        call.batch,
        call.m,
        call.n,
        call.k,
        call.a,
        call.aBatch,
        call.aRow,
        call.aColumn,
        call.b,
        call.bBatch,
        call.bRow,
        call.bColumn,
        call.c,
        call.cBatch,
        call.cRow,
        call.bias,
        call.biasStride,
        GEMM_ACTIVATION[call.activation],
        call.alpha,
        scratch,
      );
    },
    transpose({ input, output, extents, strides }) {
      exports.transpose_32(input, output, ...extents, ...strides);
    },
    releaseScratch() {
      if (scratch !== 0) backend.wasm._free(scratch);
      scratch = 0;
    },
  };
}

/** Instantiates the GEMM on the backend's heap synchronously (compiling first if `compileGemmModule` has not). */
export function instantiateGemm(backend: WasmHeapBackend): HeapGemm {
  const memory = backend.wasm.asm.memory;
  if (isSharedMemory(memory)) throw unsupportedHeap(memory);
  try {
    return wrap(backend, new (webAssembly().Instance)(compileSync(), { env: { memory } }));
  } catch (error) {
    throw unsupportedHeap(memory, error);
  }
}

/** The asynchronous form of `instantiateGemm` (for browsers' main thread). */
export async function instantiateGemmAsync(backend: WasmHeapBackend): Promise<HeapGemm> {
  const memory = backend.wasm.asm.memory;
  if (isSharedMemory(memory)) throw unsupportedHeap(memory);
  const module = await compileGemmModule();
  try {
    return wrap(backend, await webAssembly().instantiate(module, { env: { memory } }));
  } catch (error) {
    throw unsupportedHeap(memory, error);
  }
}
