// The WebAssembly JS API as this package uses it, typed locally (the shared tsconfig has no DOM lib to declare it).

/** A wasm linear memory (`WebAssembly.Memory`). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

/** A compiled module (`WebAssembly.Module`); opaque here. */
export type WasmModule = object;

/** An instantiated module (`WebAssembly.Instance`). */
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

type Imports = Record<string, Record<string, unknown>>;

interface WebAssemblyApi {
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Imports) => WasmInstance;
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: Imports): Promise<WasmInstance>;
  validate(bytes: Uint8Array): boolean;
}

/** The global `WebAssembly` object (Node 20 and every current browser have it). */
export function webAssembly(): WebAssemblyApi {
  const api = (globalThis as { WebAssembly?: WebAssemblyApi }).WebAssembly;
  if (api === undefined) throw new Error('@engram/kernels: this JavaScript engine has no WebAssembly support');
  return api;
}

/** True when `memory` is a `WebAssembly.Memory`. */
export function isWasmMemory(memory: unknown): memory is WasmMemory {
  const api = (globalThis as { WebAssembly?: { Memory?: abstract new (...args: never[]) => unknown } }).WebAssembly;
  return api?.Memory !== undefined && memory instanceof api.Memory;
}

/** True when the memory is shared (the threaded tfjs wasm binary). */
export function isSharedMemory(memory: WasmMemory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}
