// The slice of the tfjs wasm backend's interface that the JS kernels below use (no import of the backend package).
import type * as tf from '@tensorflow/tfjs';

/** Structural view of `BackendWasm` from @tensorflow/tfjs-backend-wasm 4.22. */
export interface WasmBackendLike {
  /** Allocates an output tensor on the wasm heap (contents uninitialised). */
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** A typed-array view on the heap memory of a tensor (invalidated when the heap grows: take it after makeOutput). */
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
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
