// The slice of the tfjs wasm backend's interface that Engram's kernels use (no import of the backend package).
import type * as tf from '@tensorflow/tfjs';
import { isSharedMemory, isWasmMemory, webAssembly, type WasmMemory } from './webassembly.js';

/** Structural view of `BackendWasm` from @tensorflow/tfjs-backend-wasm 4.22. */
export interface WasmBackendLike {
  /** Allocates an output tensor on the wasm heap (contents uninitialised). */
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** A typed-array view on the heap memory of a tensor (invalidated when the heap grows: take it after makeOutput). */
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  /** Frees a tensor's data made with `makeOutput` (tfjs's KernelBackend method). */
  disposeData(dataId: tf.DataId): boolean;
}

/** What the fast kernels need beyond `WasmBackendLike`: the emscripten module and tensor heap offsets. */
export interface WasmHeapBackend extends WasmBackendLike {
  wasm: {
    /** The emscripten module's exports; `memory` is the heap every tensor lives in. */
    asm: { memory: WasmMemory };
    /** emscripten's allocator on that heap (returns a byte offset; `>>> 0` for offsets above 2 GiB). */
    _malloc(bytes: number): number;
    _free(offset: number): void;
  };
  /** Per tensor data: `memoryOffset` is the byte offset of its values in the heap. */
  dataIdMap: { get(dataId: tf.DataId): { memoryOffset: number } | undefined };
}

/** Narrows the `backend` argument of a kernel function, with a clear error on a backend that is not wasm-like. */
export function asWasmBackend(backend: unknown, kernelName: string): WasmBackendLike {
  const candidate = backend as Partial<WasmBackendLike> | null;
  if (candidate === null || typeof candidate.makeOutput !== 'function' || typeof candidate.typedArrayFromHeap !== 'function') {
    throw new Error(
      `@engram/kernels: the ${kernelName} kernel registered for "wasm" received a backend without makeOutput/` +
        'typedArrayFromHeap; it only supports @tensorflow/tfjs-backend-wasm 4.22.',
    );
  }
  return candidate as WasmBackendLike;
}

/** Narrows a backend to `WasmHeapBackend`, or explains what is missing (another tfjs-backend-wasm version). */
export function asWasmHeapBackend(backend: unknown, what: string): WasmHeapBackend {
  const candidate = asWasmBackend(backend, what) as Partial<WasmHeapBackend>;
  const memory = candidate.wasm?.asm?.memory;
  if (
    !isWasmMemory(memory) ||
    typeof candidate.wasm?._malloc !== 'function' ||
    typeof candidate.wasm?._free !== 'function' ||
    typeof candidate.dataIdMap?.get !== 'function'
  ) {
    throw new Error(
      `@engram/kernels: ${what} needs the wasm backend's heap (backend.wasm.asm.memory, _malloc, _free, dataIdMap) ` +
        'as @tensorflow/tfjs-backend-wasm 4.22 exposes it; this backend object has another shape.',
    );
  }
  return candidate as WasmHeapBackend;
}

/** Byte offset of a tensor's values in the wasm heap. */
export function heapOffset(backend: WasmHeapBackend, info: tf.TensorInfo): number {
  const data = backend.dataIdMap.get(info.dataId);
  if (data === undefined) throw new Error('@engram/kernels: a kernel input is not a tensor of this wasm backend (disposed?)');
  return data.memoryOffset;
}

/** A function exported by a module of native/: numbers (sizes, heap byte offsets, scalars) in, nothing out. */
export type HeapExport = (...args: number[]) => void;

/**
 * A loader of one module of native/ (base64, importing only env.memory): instantiated on the heap of the backend it
 * is first called with, the unshared memory of the single-threaded SIMD tfjs binary, and again only when the backend
 * changes. `exports` maps the names the kernels use to the module's export names; a missing export is an error.
 * Small modules only: the compilation is synchronous (browsers refuse it above 4 KB on the main thread).
 */
export function heapModule<Name extends string>(
  base64: string,
  what: string,
  exports: Record<Name, string>,
): (backend: unknown) => { backend: WasmHeapBackend } & Record<Name, HeapExport> {
  let loaded: ({ backend: WasmHeapBackend } & Record<Name, HeapExport>) | null = null;
  return (backend) => {
    if (loaded !== null && loaded.backend === backend) return loaded;
    const heap = asWasmHeapBackend(backend, what);
    const memory = heap.wasm.asm.memory;
    if (isSharedMemory(memory)) throw new Error(`@engram/kernels: ${what} need the unshared heap of the single-threaded SIMD tfjs binary.`);
    const bytes = Uint8Array.from(atob(base64), (character) => character.charCodeAt(0));
    const api = webAssembly();
    const instance = new api.Instance(new api.Module(bytes), { env: { memory } }).exports;
    const bound = { backend: heap } as { backend: WasmHeapBackend } & Record<Name, HeapExport>;
    for (const [name, exportName] of Object.entries(exports) as [Name, string][]) {
      const exported = instance[exportName];
      if (typeof exported !== 'function') throw new Error(`@engram/kernels: ${what}: the module has no export ${exportName}; rebuild it with \`pnpm --filter @engram/kernels build:wasm\`.`);
      (bound as Record<string, unknown>)[name] = exported;
    }
    loaded = bound;
    return bound;
  };
}
