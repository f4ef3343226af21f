// Two-thread GEMM: a worker thread runs the shared-memory build of native/gemm.c (the main thread's instruction set) on part of each large product.
//
// The tfjs wasm heap is not shared memory, so the worker cannot read it. For a product of at least `minFlops`, the
// main thread copies the inputs of the worker's part (the strided views' spans of A, B and the bias) into a
// SharedArrayBuffer-backed WebAssembly.Memory, posts the calls, computes its own part on the heap with the unshared
// module, then waits (Atomics.wait) and copies the worker's C back. Work is split by whole calls, batch entries or
// row blocks of C, never along K, so every output element is summed in the same order as on one thread (bit-identical).
// If the worker has not started its part when the main thread finishes its own, the main thread takes it back
// (a compare-exchange on the claim word), so a descheduled worker costs only the copy.
import type { GemmCall, GemmInstructions, HeapGemm } from './gemm.js';
import { base64Bytes, GEMM_ACTIVATION, gemmInstructions } from './gemm.js';
import { GEMM_SHARED_WASM_BASE64 } from '../wasm/gemm-shared-binary.js';
import { GEMM_RELAXED_SHARED_WASM_BASE64 } from '../wasm/gemm-relaxed-shared-binary.js';
import { webAssembly, type WasmMemory, type WasmModule } from './webassembly.js';

/**
 * Default: products below 8 MFLOP stay on one thread. Measured on an idle 2-core machine (kernels README): 2 MFLOP
 * made the tiny Transformer-XL step slower than one thread (hand-off and copies outweigh the work), 8 MFLOP gave
 * 1.22x at tiny and 1.23x at small, 30 MFLOP 1.17x and 1.29x.
 */
export const DEFAULT_THREADED_MIN_FLOPS = 8e6;

/** Threads `initBackend` gives the fast kernels on a machine with at least 2 cores (measured faster; kernels README). */
export const DEFAULT_KERNEL_THREADS = 2;

/** Cores this process may use (`os.availableParallelism()` in Node, `navigator.hardwareConcurrency` elsewhere, else 1). */
export async function availableCores(): Promise<number> {
  const processLike = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (processLike?.versions?.node !== undefined) {
    const specifier = 'node:os'; // a variable, so browser bundlers do not try to resolve it
    const os = (await import(/* @vite-ignore */ specifier)) as typeof import('node:os');
    return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  }
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
}

/** Words of the control block at byte 0 of the shared memory. */
const SEQUENCE = 0;
const DONE = 1;
const CLAIM = 2;
const STOP = 3;
const FAILED = 4;
const COUNT = 5;
/** Call descriptors (20 words each) start here; the worker's packing scratch (512 KB, gemm_scratch_floats) at SCRATCH, the data at DATA. */
const DESCRIPTORS = 1024;
const WORDS_PER_CALL = 20;
const MAX_WORKER_CALLS = 512;
const SCRATCH = 65536;
const DATA = 1 << 20;
const PAGE = 65536;
/** The shared module's declared maximum (`--max-memory` in scripts/build-wasm.mjs). */
const MAXIMUM_BYTES = 1024 ** 3;
/** How long the main thread waits for the worker's part before giving up on threading (a dead worker). */
const WAIT_LIMIT_MS = 60_000;

/**
 * The worker's code (CommonJS, run with `eval: true`): instantiate the shared module on the posted memory, then loop:
 * wait for a new sequence number, claim the job (3s -> 3s+1) unless the main thread took it, run its calls, signal done.
 */
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { module, memory } = workerData;
const gemm = new WebAssembly.Instance(module, { env: { memory } }).exports.gemm_f32;
const control = new Int32Array(memory.buffer, 0, 16);
parentPort.postMessage('ready');
let seen = 0;
for (;;) {
  Atomics.wait(control, ${SEQUENCE}, seen);
  if (Atomics.load(control, ${STOP}) !== 0) break;
  const job = Atomics.load(control, ${SEQUENCE});
  if (job === seen) continue;
  seen = job;
  if (Atomics.compareExchange(control, ${CLAIM}, 3 * job, 3 * job + 1) !== 3 * job) continue;
  try {
    const count = Atomics.load(control, ${COUNT});
    const words = new Int32Array(memory.buffer, ${DESCRIPTORS}, count * ${WORDS_PER_CALL});
    const floats = new Float32Array(memory.buffer, ${DESCRIPTORS}, count * ${WORDS_PER_CALL});
    for (let call = 0; call < count; call++) {
      const w = call * ${WORDS_PER_CALL};
      gemm(words[w], words[w + 1], words[w + 2], words[w + 3], words[w + 4], words[w + 5], words[w + 6], words[w + 7],
        words[w + 8], words[w + 9], words[w + 10], words[w + 11], words[w + 12], words[w + 13], words[w + 14],
        words[w + 15], words[w + 16], words[w + 17], floats[w + 18], ${SCRATCH});
    }
  } catch (error) {
    Atomics.store(control, ${FAILED}, 1);
  }
  Atomics.store(control, ${DONE}, job);
  Atomics.notify(control, ${DONE});
}
`;

/** What `startThreadedGemm` needs from the host to run the worker (Node's worker_threads by default). */
export interface WorkerHandle {
  /** Resolves once the worker has instantiated the module; rejects when it cannot. */
  ready: Promise<void>;
  unref(): void;
  terminate(): void;
}

/** Starts the worker's code with the module and memory; injectable so tests can make the start fail. */
export type SpawnWorker = (source: string, data: { module: WasmModule; memory: WasmMemory }) => Promise<WorkerHandle>;

async function spawnNodeWorker(source: string, data: { module: WasmModule; memory: WasmMemory }): Promise<WorkerHandle> {
  const processLike = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (processLike?.versions?.node === undefined) throw new Error('worker threads are only implemented for Node (worker_threads)');
  const specifier = 'node:worker_threads'; // a variable, so browser bundlers do not try to resolve it
  const { Worker } = (await import(/* @vite-ignore */ specifier)) as typeof import('node:worker_threads');
  const worker = new Worker(source, { eval: true, workerData: data });
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the GEMM worker did not start within 10 s')), 10_000);
    worker.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the GEMM worker exited with code ${code}`));
    });
  });
  return {
    ready,
    unref: () => worker.unref(),
    terminate: () => void worker.terminate(),
  };
}


/**
 * Waits until `readDone()` returns `job`, or `limitMs` have passed. `sleep(expected, ms)` is `Atomics.wait` on the DONE
 * word: it returns at once when the word no longer holds `expected`. The wait sleeps only on the value just read, never
 * on a fresh read (which may already be the worker's final store: that wait would sleep out its whole timeout, with no
 * notify left to come; measured: about 1 s on 3% of two-thread training steps).
 */
export function waitForJob(
  job: number,
  readDone: () => number,
  sleep: (expected: number, milliseconds: number) => string,
  limitMs: number,
  now: () => number = Date.now,
): void {
  const deadline = now() + limitMs;
  for (let done = readDone(); done !== job; done = readDone()) {
    sleep(done, 1000);
    if (now() > deadline) return;
  }
}

/** A range of the heap, in bytes. */
interface Span {
  start: number;
  end: number;
}

/** Bytes touched by the strided view `p + 4 (g s_g + i s_i + j s_j)`, `g < batch, i < rows, j < columns`. */
function spanOf(p: number, batch: number, batchStride: number, rows: number, rowStride: number, columns: number, columnStride: number): Span {
  const last = (batch - 1) * batchStride + (rows - 1) * rowStride + (columns - 1) * columnStride;
  return { start: p, end: p + 4 * (last + 1) };
}

const outputSpan = (call: GemmCall): Span => spanOf(call.c, call.batch, call.cBatch, call.m, call.cRow, call.n, 1);

function inputSpans(call: GemmCall): Span[] {
  const spans = [
    spanOf(call.a, call.batch, call.aBatch, call.m, call.aRow, call.k, call.aColumn),
    spanOf(call.b, call.batch, call.bBatch, call.k, call.bRow, call.n, call.bColumn),
  ];
  if (call.bias !== 0) spans.push(spanOf(call.bias, 1, 0, 1, 0, call.biasStride === 0 ? 1 : call.n, call.biasStride));
  return spans;
}

/** Sorted, merged union of byte ranges. */
function merge(spans: Span[]): Span[] {
  const sorted = [...spans].sort((x, y) => x.start - y.start);
  const merged: Span[] = [];
  for (const span of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && span.start <= last.end) last.end = Math.max(last.end, span.end);
    else merged.push({ ...span });
  }
  return merged;
}

const flopsOf = (call: GemmCall): number => 2 * call.batch * call.m * call.n * call.k;

function hull(calls: GemmCall[]): Span {
  const spans = calls.map(outputSpan);
  return { start: Math.min(...spans.map((span) => span.start)), end: Math.max(...spans.map((span) => span.end)) };
}

/**
 * Splits independent calls into the main thread's and the worker's part, about half the FLOPs each, so that the two
 * parts' outputs occupy disjoint byte ranges (the worker's C is copied back as whole ranges). Null when no such split
 * exists. Only whole calls, batch entries and rows are split, never K.
 */
export function splitCalls(calls: readonly GemmCall[]): { main: GemmCall[]; worker: GemmCall[] } | null {
  let candidate: { main: GemmCall[]; worker: GemmCall[] } | null = null;
  if (calls.length >= 2) {
    const total = calls.reduce((sum, call) => sum + flopsOf(call), 0);
    let running = 0;
    let cut = 0;
    while (cut < calls.length - 1 && running + flopsOf(calls[cut] as GemmCall) <= total / 2) running += flopsOf(calls[cut++] as GemmCall);
    cut = Math.max(cut, 1);
    candidate = { main: calls.slice(0, cut), worker: calls.slice(cut) };
  } else if (calls.length === 1) {
    const call = calls[0] as GemmCall;
    const byBatch = (): typeof candidate => {
      if (call.batch < 2) return null;
      const cut = Math.floor(call.batch / 2);
      return {
        main: [{ ...call, batch: cut }],
        worker: [
          {
            ...call,
            batch: call.batch - cut,
            a: call.a + 4 * cut * call.aBatch,
            b: call.b + 4 * cut * call.bBatch,
            c: call.c + 4 * cut * call.cBatch,
          },
        ],
      };
    };
    const byRows = (): typeof candidate => {
      if (call.m < 8) return null;
      const cut = Math.round(call.m / 8) * 4; // a multiple of the 4-row tile
      return {
        main: [{ ...call, m: cut }],
        worker: [{ ...call, m: call.m - cut, a: call.a + 4 * cut * call.aRow, c: call.c + 4 * cut * call.cRow }],
      };
    };
    for (const attempt of [byBatch, byRows]) {
      const split = attempt();
      if (split === null) continue;
      const [main, worker] = [hull(split.main), hull(split.worker)];
      if (main.end <= worker.start || worker.end <= main.start) return split;
    }
    return null;
  }
  if (candidate === null || candidate.worker.length === 0) return null;
  const [main, worker] = [hull(candidate.main), hull(candidate.worker)];
  return main.end <= worker.start || worker.end <= main.start ? candidate : null;
}

/** The worker and its shared memory. */
export interface ThreadedGemm {
  /** Products with fewer FLOPs (summed over the calls) run on the main thread alone. */
  readonly minFlops: number;
  /** The worker's build; calls on a heap GEMM of another instruction set stay on the main thread. */
  readonly instructions: GemmInstructions;
  /** Runs independent calls (disjoint outputs) on the heap of `gemm`, on two threads when large enough. */
  run(gemm: HeapGemm, calls: readonly GemmCall[]): void;
  /** Jobs the worker computed, and jobs the main thread took back because the worker had not started (counters). */
  readonly stats: { shared: number; reclaimed: number };
  /** True until `dispose` or a failure switched threading off. */
  readonly alive: boolean;
  /** Stops and terminates the worker (idempotent). */
  dispose(): void;
}

export interface ThreadedGemmOptions {
  minFlops?: number;
  /** The worker's build: the main thread's must be the same for bit-identical results (default: `gemmInstructions()`). */
  instructions?: GemmInstructions;
  spawn?: SpawnWorker;
  /** Called once when threading is switched off by a failure (default: console.warn). */
  warn?: (message: string) => void;
}

const compiledShared = new Map<GemmInstructions, Promise<WasmModule>>();

/** The shared-memory GEMM module, compiled once per process and build (restarting the worker reuses its optimised code). */
function sharedModule(api: ReturnType<typeof webAssembly>, instructions: GemmInstructions): Promise<WasmModule> {
  let pending = compiledShared.get(instructions);
  if (pending === undefined) {
    const base64 = instructions === 'relaxed-simd' ? GEMM_RELAXED_SHARED_WASM_BASE64 : GEMM_SHARED_WASM_BASE64;
    pending = api.compile(base64Bytes(base64)).catch((error: unknown) => {
      compiledShared.delete(instructions);
      throw error;
    });
    compiledShared.set(instructions, pending);
  }
  return pending;
}

/** Starts the worker. Rejects when the host has no worker threads or shared memory; the caller falls back. */
export async function startThreadedGemm(options: ThreadedGemmOptions = {}): Promise<ThreadedGemm> {
  const api = webAssembly();
  if (typeof SharedArrayBuffer === 'undefined' || typeof Atomics === 'undefined') {
    throw new Error('this JavaScript engine has no SharedArrayBuffer/Atomics (browsers need cross-origin isolation)');
  }
  const minFlops = options.minFlops ?? DEFAULT_THREADED_MIN_FLOPS;
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const instructions = options.instructions ?? gemmInstructions();
  const module = await sharedModule(api, instructions);
  const memory = new (api.Memory as unknown as new (descriptor: object) => WasmMemory)({
    initial: 2 * DATA / PAGE,
    maximum: MAXIMUM_BYTES / PAGE,
    shared: true,
  });
  const handle = await (options.spawn ?? spawnNodeWorker)(WORKER_SOURCE, { module, memory });
  try {
    await handle.ready;
  } catch (error) {
    handle.terminate();
    throw error;
  }
  handle.unref();
  const control = new Int32Array(memory.buffer, 0, 16);
  let job = 0;
  let alive = true;
  const stats = { shared: 0, reclaimed: 0 };

  const dispose = (): void => {
    if (!alive) return;
    alive = false;
    Atomics.store(control, STOP, 1);
    Atomics.add(control, SEQUENCE, 1);
    Atomics.notify(control, SEQUENCE);
    handle.terminate();
  };

  const runHere = (gemm: HeapGemm, calls: readonly GemmCall[]): void => {
    for (const call of calls) gemm.run(call);
  };

  return {
    minFlops,
    instructions,
    stats,
    get alive() {
      return alive;
    },
    dispose,
    run(gemm, calls) {
      const flops = calls.reduce((sum, call) => sum + flopsOf(call), 0);
      const sameBuild = gemm.instructions === instructions;
      const split = alive && sameBuild && flops >= minFlops && calls.length > 0 ? splitCalls(calls) : null;
      if (split === null || split.worker.length > MAX_WORKER_CALLS) {
        runHere(gemm, calls);
        return;
      }
      // Lay out the worker's inputs (merged spans) and outputs in the shared memory.
      const inputs = merge(split.worker.flatMap(inputSpans));
      const outputs = split.worker.map(outputSpan);
      let cursor = DATA;
      const placedInputs = inputs.map((span) => {
        const at = cursor;
        cursor += (span.end - span.start + 15) & ~15;
        return at;
      });
      const placedOutputs = outputs.map((span) => {
        const at = cursor;
        cursor += (span.end - span.start + 15) & ~15;
        return at;
      });
      if (cursor > MAXIMUM_BYTES) {
        runHere(gemm, calls);
        return;
      }
      if (cursor > memory.buffer.byteLength) memory.grow(Math.ceil((cursor - memory.buffer.byteLength) / PAGE));
      const heap = new Uint8Array(gemm.backend.wasm.asm.memory.buffer);
      const shared = new Uint8Array(memory.buffer);
      inputs.forEach((span, index) => shared.set(heap.subarray(span.start, span.end), placedInputs[index]));
      const translate = (pointer: number): number => {
        const index = inputs.findIndex((span) => pointer >= span.start && pointer < span.end);
        return index < 0 ? pointer : (placedInputs[index] as number) + (pointer - (inputs[index] as Span).start);
      };
      const words = new Int32Array(memory.buffer, DESCRIPTORS, split.worker.length * WORDS_PER_CALL);
      const floats = new Float32Array(memory.buffer, DESCRIPTORS, split.worker.length * WORDS_PER_CALL);
      split.worker.forEach((call, index) => {
        const w = index * WORDS_PER_CALL;
        words.set(
          [
            call.batch, call.m, call.n, call.k,
            translate(call.a), call.aBatch, call.aRow, call.aColumn,
            translate(call.b), call.bBatch, call.bRow, call.bColumn,
            (placedOutputs[index] as number) + (call.c - (outputs[index] as Span).start), call.cBatch, call.cRow,
            call.bias === 0 ? 0 : translate(call.bias), call.biasStride, GEMM_ACTIVATION[call.activation],
          ],
          w,
        );
        floats[w + 18] = call.alpha;
      });
      job += 1;
      Atomics.store(control, COUNT, split.worker.length);
      Atomics.store(control, CLAIM, 3 * job);
      Atomics.store(control, SEQUENCE, job);
      Atomics.notify(control, SEQUENCE);
      runHere(gemm, split.main);
      if (Atomics.compareExchange(control, CLAIM, 3 * job, 3 * job + 2) === 3 * job) {
        stats.reclaimed += 1;
        runHere(gemm, split.worker);
        return;
      }
      waitForJob(job, () => Atomics.load(control, DONE), (expected, milliseconds) => Atomics.wait(control, DONE, expected, milliseconds), WAIT_LIMIT_MS);
      if (Atomics.load(control, DONE) !== job || Atomics.load(control, FAILED) !== 0) {
        warn('@engram/kernels: the GEMM worker thread failed or stopped answering; the fast kernels continue on one thread.');
        dispose();
        runHere(gemm, split.worker);
        return;
      }
      stats.shared += 1;
      const heapAfter = new Uint8Array(gemm.backend.wasm.asm.memory.buffer);
      const sharedAfter = new Uint8Array(memory.buffer);
      outputs.forEach((span, index) => {
        const from = placedOutputs[index] as number;
        heapAfter.set(sharedAfter.subarray(from, from + span.end - span.start), span.start);
      });
    },
  };
}
