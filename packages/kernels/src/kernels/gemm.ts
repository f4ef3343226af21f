// The strided SIMD GEMM and blocked transpose of native/gemm.c on a heap, in its SIMD128 or relaxed-SIMD build.
import { BackendUnavailableError } from '../errors.js';
import { GEMM_WASM_BASE64 } from '../wasm/gemm-binary.js';
import { GEMM_RELAXED_WASM_BASE64 } from '../wasm/gemm-relaxed-binary.js';
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

/**
 * The instructions the GEMM's inner loop runs on: `simd128` (wasm SIMD, a multiply and an add per step) or
 * `relaxed-simd` (relaxed SIMD's `f32x4.relaxed_madd`: one fused multiply-add where the CPU has FMA). The relaxed
 * build sums in the same order but rounds once per step instead of twice, so its results differ from the SIMD128
 * build's in the last bits (both stay within the float32 tolerance of a float64 product).
 */
export type GemmInstructions = 'simd128' | 'relaxed-simd';

/** Every instruction set, the plain one first. */
export const GEMM_INSTRUCTIONS: readonly GemmInstructions[] = ['simd128', 'relaxed-simd'];

/** The GEMM instantiated on one backend's heap, with its packing scratch. */
export interface HeapGemm {
  readonly backend: WasmHeapBackend;
  readonly instructions: GemmInstructions;
  run(call: GemmCall): void;
  transpose(call: TransposeCall): void;
  /** Frees the packing scratch (allocated again on the next `run`). */
  releaseScratch(): void;
}

const compiled = new Map<GemmInstructions, WasmModule>();
const compiling = new Map<GemmInstructions, Promise<WasmModule>>();

/** Decodes a base64 module (atob: Node 16+ and browsers alike). */
export function base64Bytes(base64: string): Uint8Array {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let index = 0; index < text.length; index++) bytes[index] = text.charCodeAt(index);
  return bytes;
}

const moduleBytes = (instructions: GemmInstructions): Uint8Array =>
  base64Bytes(instructions === 'relaxed-simd' ? GEMM_RELAXED_WASM_BASE64 : GEMM_WASM_BASE64);

/** Whether the relaxed build validates; null until asked (and again after {@link allowRelaxedSimd} sets the flag). */
let relaxedValidates: boolean | null = null;

/**
 * True when this engine accepts the relaxed-SIMD GEMM (`WebAssembly.validate`): Node 22 and later, Chrome 114 and
 * later; Node 20 only with V8's `--experimental-wasm-relaxed-simd` ({@link allowRelaxedSimd} sets it).
 */
export function relaxedSimdSupported(): boolean {
  relaxedValidates ??= webAssembly().validate(moduleBytes('relaxed-simd'));
  return relaxedValidates;
}

/**
 * Makes relaxed SIMD available where the engine has it behind a flag: in Node 20 this turns on V8's
 * `--experimental-wasm-relaxed-simd` (`v8.setFlagsFromString`, through `process.getBuiltinModule`, so nothing is
 * imported from `node:` in a browser bundle). V8 reads the flag when it validates or compiles a module, so it applies to
 * modules compiled afterwards and changes nothing else. Returns {@link relaxedSimdSupported}.
 */
export function allowRelaxedSimd(): boolean {
  if (relaxedSimdSupported()) return true;
  const host = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const v8 = host?.getBuiltinModule?.('node:v8') as { setFlagsFromString?: (flags: string) => void } | undefined;
  if (v8?.setFlagsFromString === undefined) return false;
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  relaxedValidates = null;
  return relaxedSimdSupported();
}

let preferred: GemmInstructions | 'auto' = 'auto';

/** The instruction set new GEMM instances get: the preferred one, or with `auto` relaxed SIMD where it validates. */
export function gemmInstructions(): GemmInstructions {
  if (preferred !== 'auto') return preferred;
  return relaxedSimdSupported() ? 'relaxed-simd' : 'simd128';
}

/**
 * Sets the instruction set of GEMM instances made from now on (`auto`: relaxed SIMD where it validates, else SIMD128).
 * `relaxed-simd` where the engine rejects it throws `BackendUnavailableError`, saying what would provide it.
 */
export function preferGemmInstructions(choice: GemmInstructions | 'auto'): void {
  if (choice === 'relaxed-simd' && !relaxedSimdSupported()) {
    throw new BackendUnavailableError(
      'wasm',
      'this engine does not validate relaxed SIMD (f32x4.relaxed_madd): it needs Node 22 or later, ' +
        'Node 20 with --experimental-wasm-relaxed-simd (initBackend sets it), or Chrome 114 or later.',
    );
  }
  preferred = choice;
}

/**
 * Compiles the module asynchronously (once per instruction set). Browsers refuse synchronous compilation of modules
 * over 4 KB on the main thread, so `initBackend` awaits this before registering; Node and workers may skip it.
 */
export function compileGemmModule(instructions: GemmInstructions = gemmInstructions()): Promise<WasmModule> {
  const done = compiled.get(instructions);
  if (done !== undefined) return Promise.resolve(done);
  const pending =
    compiling.get(instructions) ??
    webAssembly()
      .compile(moduleBytes(instructions))
      .then((module) => {
        compiled.set(instructions, module);
        return module;
      })
      .finally(() => compiling.delete(instructions));
  compiling.set(instructions, pending);
  return pending;
}

function compileSync(instructions: GemmInstructions): WasmModule {
  const module = compiled.get(instructions) ?? new (webAssembly().Module)(moduleBytes(instructions));
  compiled.set(instructions, module);
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

/** Byte alignment of the GEMM's packing scratch on the heap (one cache line). */
const SCRATCH_ALIGNMENT = 64;

function wrap(backend: WasmHeapBackend, instructions: GemmInstructions, instance: WasmInstance): HeapGemm {
  const exports = instance.exports as unknown as GemmExports;
  const scratchBytes = exports.gemm_scratch_floats() * 4;
  // The packed panels are read with 16-byte SIMD loads in the inner loop: the scratch starts on a 64-byte line.
  // The heap's malloc only promises 8 bytes, and panels at 8 mod 16 split one load in four across cache lines
  // (one in-process comparison: tiny steps 4% slower after the scratch was re-allocated there, 1-3% after this).
  let allocation = 0;
  let scratch = 0;
  return {
    backend,
    instructions,
    run(call) {
      if (scratch === 0) {
        allocation = backend.wasm._malloc(scratchBytes + SCRATCH_ALIGNMENT) >>> 0;
        if (allocation === 0) throw new Error(`@engram/kernels: the wasm heap has no room for ${scratchBytes} bytes of GEMM scratch`);
        scratch = Math.ceil(allocation / SCRATCH_ALIGNMENT) * SCRATCH_ALIGNMENT;
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
      if (allocation !== 0) backend.wasm._free(allocation);
      allocation = 0;
      scratch = 0;
    },
  };
}

/**
 * Instantiates the GEMM on the backend's heap synchronously (compiling first if `compileGemmModule` has not), with
 * the instruction set of {@link gemmInstructions} unless one is given.
 */
export function instantiateGemm(backend: WasmHeapBackend, instructions: GemmInstructions = gemmInstructions()): HeapGemm {
  const memory = backend.wasm.asm.memory;
  if (isSharedMemory(memory)) throw unsupportedHeap(memory);
  try {
    return wrap(backend, instructions, new (webAssembly().Instance)(compileSync(instructions), { env: { memory } }));
  } catch (error) {
    throw unsupportedHeap(memory, error);
  }
}

/** The asynchronous form of `instantiateGemm` (for browsers' main thread). */
export async function instantiateGemmAsync(backend: WasmHeapBackend, instructions: GemmInstructions = gemmInstructions()): Promise<HeapGemm> {
  const memory = backend.wasm.asm.memory;
  if (isSharedMemory(memory)) throw unsupportedHeap(memory);
  const module = await compileGemmModule(instructions);
  try {
    return wrap(backend, instructions, await webAssembly().instantiate(module, { env: { memory } }));
  } catch (error) {
    throw unsupportedHeap(memory, error);
  }
}
