// Tensor backend selection (native TensorFlow GPU/CPU, wasm, cpu) and the wasm heap budget check (ARCHITECTURE: engine facts).
import * as tf from '@tensorflow/tfjs';
import { BackendUnavailableError, InvalidArgumentError, TensorBudgetError } from './errors.js';
import {
  fastKernelInstructions,
  fastKernelsActive,
  fastKernelThreads,
  prepareFastKernels,
  registerFastKernels,
  setFastKernelInstructions,
  setFastKernelThreads,
  unregisterFastKernels,
} from './kernels/fast-kernels.js';
import { allowRelaxedSimd, GEMM_INSTRUCTIONS, type GemmInstructions } from './kernels/gemm.js';
import { availableCores, DEFAULT_KERNEL_THREADS } from './kernels/threaded-gemm.js';
import { registerMissingKernels } from './kernels/index.js';

/** What to ask `initBackend` for; `auto` tries `tensorflow-gpu`, `tensorflow`, `wasm`, `cpu` in that order. */
export type BackendChoice = 'auto' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

/** A backend that actually runs (every choice but `auto`). */
export type ConcreteBackend = Exclude<BackendChoice, 'auto'>;

/** Which matmul kernels the wasm backend runs: Engram's SIMD GEMM (`fast`) or tfjs's own (`stock`). */
export type KernelChoice = 'fast' | 'stock';

/** The kernel choices `initBackend` accepts. */
export const KERNEL_CHOICES: readonly KernelChoice[] = ['fast', 'stock'];

/** The backend in use, for logs and benchmark reports. */
export interface BackendInfo {
  /** The Engram name of the backend in use. */
  name: ConcreteBackend;
  /** The tfjs backend name (`tensorflow` for both native builds). */
  tfjsBackend: string;
  /** True when the native GPU build (@tensorflow/tfjs-node-gpu) is in use. */
  gpu: boolean;
  /** wasm only: whether the SIMD binary runs; null on other backends (or not known yet). */
  simd: boolean | null;
  /** wasm only: worker threads used by XNNPACK (1 without multithreading support); null elsewhere. */
  threads: number | null;
  /** wasm only: whether the fast kernels (`registerFastKernels`) are registered now; null elsewhere. */
  kernels: KernelChoice | null;
  /** wasm with the fast kernels only: threads their GEMM runs on (1, or 2 with the worker thread); null elsewhere. */
  kernelThreads: number | null;
  /** wasm with the fast kernels only: the GEMM's instruction set (`relaxed-simd` with fused multiply-add, or `simd128`); null elsewhere. */
  kernelInstructions: GemmInstructions | null;
  /** Version of @tensorflow/tfjs. */
  tfjsVersion: string;
}

/** Options of `initBackend`. */
export interface InitBackendOptions {
  /** The backend to use; when absent, the `ENGRAM_BACKEND` variable of `env`, else `auto`. */
  backend?: BackendChoice;
  /**
   * Environment variables to read `ENGRAM_BACKEND`, `ENGRAM_KERNEL_THREADS` and `ENGRAM_KERNEL_INSTRUCTIONS` from
   * (default `process.env`).
   */
  env?: Record<string, string | undefined>;
  /**
   * wasm only (ignored on other backends): `fast` (default) registers the SIMD GEMM kernels for BatchMatMul and
   * _FusedMatMul (`registerFastKernels`), `stock` restores tfjs's own (`unregisterFastKernels`). When `fast` is the
   * default and the GEMM cannot run on the heap (the threaded binary's shared memory), the stock kernels stay and
   * `BackendInfo.kernels` says `stock`; an explicit `fast` throws `BackendUnavailableError` instead.
   */
  kernels?: KernelChoice;
  /**
   * wasm with the fast kernels only: threads for their GEMM, 1 or 2 (2 runs part of every large product in a
   * worker thread; see the kernels README). When absent, the `ENGRAM_KERNEL_THREADS` variable of `env`, else
   * `DEFAULT_KERNEL_THREADS` (2) when the machine has at least 2 cores, else 1. When the worker cannot start, the kernels run on one thread after a one-time warning
   * (`BackendInfo.kernelThreads` says 1).
   */
  threads?: number;
  /**
   * wasm with the fast kernels only: the GEMM's instruction set. `auto` (the default) uses relaxed SIMD's fused
   * multiply-add where the engine validates it (Node 22 and later, Chrome 114 and later; in Node 20 `initBackend`
   * first turns on V8's `--experimental-wasm-relaxed-simd`, see `allowRelaxedSimd`), else plain SIMD128. `simd128`
   * keeps the plain build (the same bits on every CPU; the relaxed one fuses where the CPU has FMA). `relaxed-simd`
   * insists: `BackendUnavailableError` where the engine rejects it. When absent, the `ENGRAM_KERNEL_INSTRUCTIONS`
   * variable of `env`, else `auto`.
   */
  instructions?: GemmInstructions | 'auto';
  /**
   * Loads a backend package by name (default: dynamic `import()`). Tests inject fakes here; a loader must register
   * the backend with this copy of @tensorflow/tfjs as the real packages do on import.
   */
  importModule?: (specifier: string) => Promise<unknown>;
}

/** The backend choices `initBackend` accepts, in `auto` order after `auto` itself. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

const AUTO_ORDER: readonly ConcreteBackend[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

const PACKAGE: Record<Exclude<ConcreteBackend, 'cpu'>, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
};

const HOW_TO_INSTALL: Record<ConcreteBackend, string> = {
  'tensorflow-gpu':
    'Install it with `npm install @tensorflow/tfjs-node-gpu@4.22.0` (Linux x64 with an NVIDIA GPU, CUDA 11.2 and ' +
    'cuDNN 8.1; its install script downloads libtensorflow)',
  tensorflow:
    'Install it with `npm install @tensorflow/tfjs-node@4.22.0` (its install script downloads libtensorflow, so the ' +
    'machine needs access to storage.googleapis.com)',
  wasm: 'Install it with `npm install @tensorflow/tfjs-backend-wasm@4.22.0`',
  cpu: 'The cpu backend ships with @tensorflow/tfjs 4.22.0; make sure exactly one copy of it is installed',
};

const OTHER_CHOICES = 'or pick another backend (ENGRAM_BACKEND=auto, wasm or cpu)';

/** The largest heap the tfjs wasm backend can address: 4 GiB. */
export const WASM_HEAP_LIMIT_BYTES = 4 * 1024 ** 3;

interface WasmDetails {
  simd: boolean;
  threads: number;
}

let wasmDetails: WasmDetails | null = null;

function defaultImport(specifier: string): Promise<unknown> {
  return import(/* @vite-ignore */ specifier);
}

function readEnvironment(): Record<string, string | undefined> {
  const processLike = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return processLike?.env ?? {};
}

/**
 * One setting of `initBackend`: the option when given, else the environment variable (trimmed; unset or empty means
 * absent), else absent (undefined). A value outside `choices` throws `InvalidArgumentError` naming the option or the
 * variable, with `expected` as the accepted values.
 */
function optionOrVariable<T extends string | number>(
  options: InitBackendOptions,
  setting: { option: keyof InitBackendOptions; variable: string; choices: readonly T[]; expected: string },
): T | undefined {
  const { option, variable, choices, expected } = setting;
  const given = options[option] as T | undefined;
  if (given !== undefined) {
    if (!choices.includes(given)) {
      throw new InvalidArgumentError({ operation: 'initBackend', parameter: option, expected, actual: JSON.stringify(given) });
    }
    return given;
  }
  const fromEnvironment = (options.env ?? readEnvironment())[variable]?.trim();
  if (fromEnvironment === undefined || fromEnvironment === '') return undefined;
  const chosen = choices.find((choice) => String(choice) === fromEnvironment);
  if (chosen === undefined) {
    throw new InvalidArgumentError({
      operation: 'initBackend',
      parameter: variable,
      expected,
      actual: JSON.stringify(fromEnvironment),
      fix: 'Fix or unset the environment variable.',
    });
  }
  return chosen;
}

/** The backend asked for: `options.backend`, else `ENGRAM_BACKEND`, else `auto`. */
function resolveChoice(options: InitBackendOptions): BackendChoice {
  const expected = `one of ${BACKEND_CHOICES.join(', ')}`;
  return optionOrVariable(options, { option: 'backend', variable: 'ENGRAM_BACKEND', choices: BACKEND_CHOICES, expected }) ?? 'auto';
}

/** The GEMM threads asked for: `options.threads`, else `ENGRAM_KERNEL_THREADS`, else undefined (the default). */
function resolveKernelThreads(options: InitBackendOptions): number | undefined {
  return optionOrVariable(options, { option: 'threads', variable: 'ENGRAM_KERNEL_THREADS', choices: [1, 2], expected: '1 or 2' });
}

const INSTRUCTION_CHOICES: readonly (GemmInstructions | 'auto')[] = ['auto', ...GEMM_INSTRUCTIONS];

/** The GEMM instruction set asked for: `options.instructions`, else `ENGRAM_KERNEL_INSTRUCTIONS`, else `auto`. */
function resolveKernelInstructions(options: InitBackendOptions): GemmInstructions | 'auto' {
  const expected = `one of ${INSTRUCTION_CHOICES.join(', ')}`;
  const setting = { option: 'instructions', variable: 'ENGRAM_KERNEL_INSTRUCTIONS', choices: INSTRUCTION_CHOICES, expected } as const;
  return optionOrVariable(options, setting) ?? 'auto';
}

/** What `initBackend` asks of the wasm backend's kernels. */
interface KernelRequest {
  kernels: KernelChoice | undefined;
  threads: number | undefined;
  instructions: GemmInstructions | 'auto';
}

function unavailable(choice: ConcreteBackend, problem: string, cause?: unknown): BackendUnavailableError {
  const detail = cause instanceof Error ? ` (${cause.message.split('\n')[0]})` : '';
  return new BackendUnavailableError(
    choice,
    `Backend "${choice}" is not available: ${problem}${detail}. ${HOW_TO_INSTALL[choice]}, ${OTHER_CHOICES}.`,
    cause === undefined ? undefined : { cause },
  );
}

function isGpuBuild(backend: unknown): boolean {
  return (backend as { isGPUPackage?: unknown } | null)?.isGPUPackage === true;
}

async function activateNative(
  choice: 'tensorflow-gpu' | 'tensorflow',
  importModule: (specifier: string) => Promise<unknown>,
): Promise<ConcreteBackend> {
  const packageName = PACKAGE[choice];
  try {
    await importModule(packageName);
  } catch (error) {
    throw unavailable(choice, `${packageName} could not be loaded`, error);
  }
  if (tf.findBackendFactory('tensorflow') === null) {
    throw unavailable(
      choice,
      `${packageName} loaded but registered no "tensorflow" backend with this copy of @tensorflow/tfjs ` +
        '(are two copies of @tensorflow/tfjs installed? every @tensorflow package must be 4.22.0 and deduplicated)',
    );
  }
  let ready = false;
  let failure: unknown;
  try {
    ready = await tf.setBackend('tensorflow');
  } catch (error) {
    failure = error;
  }
  if (!ready) {
    // A registration that cannot initialise would shadow the other native build: drop it.
    tf.removeBackend('tensorflow');
    throw unavailable(choice, `the "tensorflow" backend of ${packageName} failed to initialise`, failure);
  }
  const gpu = isGpuBuild(tf.findBackend('tensorflow'));
  if (choice === 'tensorflow-gpu' && !gpu) {
    throw unavailable(
      choice,
      'the "tensorflow" backend in this process is the CPU build (@tensorflow/tfjs-node registered it first; both ' +
        'builds use the same backend name, so only one can be loaded per process)',
    );
  }
  return gpu ? 'tensorflow-gpu' : 'tensorflow';
}

async function chooseKernels({ kernels, instructions }: KernelRequest): Promise<void> {
  if (kernels === 'stock') {
    unregisterFastKernels();
    return;
  }
  if (instructions !== 'simd128') allowRelaxedSimd();
  try {
    await prepareFastKernels();
    registerFastKernels();
  } catch (error) {
    if (kernels === 'fast') {
      throw unavailable('wasm', 'the fast kernels (kernels: "fast") cannot run on this wasm heap', error);
    }
    return;
  }
  await setFastKernelInstructions(instructions);
}

async function activateWasm(importModule: (specifier: string) => Promise<unknown>, request: KernelRequest): Promise<ConcreteBackend> {
  let module: unknown;
  try {
    module = await importModule(PACKAGE.wasm);
  } catch (error) {
    throw unavailable('wasm', `${PACKAGE.wasm} could not be loaded`, error);
  }
  let ready = false;
  let failure: unknown;
  try {
    ready = await tf.setBackend('wasm');
  } catch (error) {
    failure = error;
  }
  if (!ready) {
    throw unavailable(
      'wasm',
      'the wasm backend failed to initialise (its .wasm binaries must sit next to its dist files, or be located ' +
        'with setWasmPaths)',
      failure,
    );
  }
  registerMissingKernels();
  await chooseKernels(request);
  if (fastKernelsActive()) await setFastKernelThreads(request.threads ?? ((await availableCores()) >= 2 ? DEFAULT_KERNEL_THREADS : 1));
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const multithreaded = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
  const getThreadsCount = (module as { getThreadsCount?: () => number } | null)?.getThreadsCount;
  const threads = multithreaded && typeof getThreadsCount === 'function' ? getThreadsCount() : 1;
  wasmDetails = { simd, threads };
  return 'wasm';
}

async function activate(
  choice: ConcreteBackend,
  importModule: (specifier: string) => Promise<unknown>,
  request: KernelRequest,
): Promise<ConcreteBackend> {
  switch (choice) {
    case 'tensorflow-gpu':
    case 'tensorflow':
      return activateNative(choice, importModule);
    case 'wasm':
      return activateWasm(importModule, request);
    case 'cpu': {
      let ready = false;
      let failure: unknown;
      try {
        ready = await tf.setBackend('cpu');
      } catch (error) {
        failure = error;
      }
      if (!ready) throw unavailable('cpu', 'the cpu backend failed to initialise', failure);
      return 'cpu';
    }
  }
}

/**
 * Selects and initialises the tensor backend, sets `PROD` (no cpu banner), registers the kernels wasm lacks and
 * (unless `kernels: 'stock'`) the fast matmul and transpose kernels when wasm is chosen, and describes the result.
 *
 * Choice: `options.backend`, else `env.ENGRAM_BACKEND`, else `auto` (tensorflow-gpu -> tensorflow -> wasm -> cpu,
 * first that loads and initialises wins). The native packages are optional peers loaded with `import()`. An explicit
 * choice that cannot run throws `BackendUnavailableError` saying how to install it; `auto` only throws when nothing
 * runs.
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const choice = resolveChoice(options);
  if (options.kernels !== undefined && !KERNEL_CHOICES.includes(options.kernels)) {
    throw new InvalidArgumentError({
      operation: 'initBackend',
      parameter: 'kernels',
      expected: `one of ${KERNEL_CHOICES.join(', ')}`,
      actual: JSON.stringify(options.kernels),
    });
  }
  const request: KernelRequest = { kernels: options.kernels, threads: resolveKernelThreads(options), instructions: resolveKernelInstructions(options) };
  const importModule = options.importModule ?? defaultImport;
  tf.env().set('PROD', true);
  if (choice !== 'auto') {
    const name = await activate(choice, importModule, request);
    return describeActive(name);
  }
  const failures: BackendUnavailableError[] = [];
  for (const candidate of AUTO_ORDER) {
    try {
      const name = await activate(candidate, importModule, request);
      return describeActive(name);
    } catch (error) {
      if (!(error instanceof BackendUnavailableError)) throw error;
      failures.push(error);
    }
  }
  throw new BackendUnavailableError(
    'auto',
    `No tensor backend could be initialised: ${failures.map((failure) => failure.message).join(' | ')}`,
    { cause: failures },
  );
}

function describeActive(name: ConcreteBackend): BackendInfo {
  const tfjsBackend = tf.getBackend();
  const wasm = tfjsBackend === 'wasm';
  return {
    name,
    tfjsBackend,
    gpu: name === 'tensorflow-gpu',
    simd: wasm ? (wasmDetails?.simd ?? null) : null,
    threads: wasm ? (wasmDetails?.threads ?? null) : null,
    kernels: wasm ? (fastKernelsActive() ? 'fast' : 'stock') : null,
    kernelThreads: wasm && fastKernelsActive() ? fastKernelThreads() : null,
    kernelInstructions: wasm && fastKernelsActive() ? fastKernelInstructions() : null,
    tfjsVersion: tf.version.tfjs,
  };
}

/**
 * Describes the backend tfjs is using now (synchronous; for benchmark reports). SIMD and thread counts are known
 * once `initBackend` has initialised wasm, null before. Throws for a tfjs backend Engram does not select
 * (e.g. webgl in a browser).
 */
export function describeBackend(): BackendInfo {
  const tfjsBackend = tf.getBackend();
  if (tfjsBackend === 'tensorflow') {
    return describeActive(isGpuBuild(tf.findBackend('tensorflow')) ? 'tensorflow-gpu' : 'tensorflow');
  }
  if (tfjsBackend === 'wasm' || tfjsBackend === 'cpu') return describeActive(tfjsBackend);
  throw new InvalidArgumentError({
    operation: 'describeBackend',
    parameter: 'tf.getBackend()',
    expected: 'one of tensorflow, wasm, cpu',
    actual: JSON.stringify(tfjsBackend),
    fix: 'Select the backend with initBackend().',
  });
}

const BYTES_PER_ELEMENT: Record<tf.DataType, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  string: Number.NaN,
};

/** Bytes a tensor of this shape and dtype occupies (numeric dtypes). */
export function tensorBytes(shape: readonly number[], dtype: tf.DataType = 'float32'): number {
  const size = shape.reduce((product, extent) => product * extent, 1);
  const perElement = BYTES_PER_ELEMENT[dtype];
  if (!Number.isFinite(perElement)) {
    throw new InvalidArgumentError({
      operation: 'tensorBytes',
      parameter: 'dtype',
      expected: 'a numeric dtype (float32, int32, bool, complex64)',
      actual: String(dtype),
    });
  }
  return size * perElement;
}

function formatBytes(bytes: number): string {
  const gibibytes = bytes / 1024 ** 3;
  return gibibytes >= 0.1 ? `${gibibytes.toFixed(2)} GiB (${bytes} bytes)` : `${(bytes / 1024 ** 2).toFixed(1)} MiB (${bytes} bytes)`;
}

/**
 * On the wasm backend, throws a `TensorBudgetError` when allocating `bytes` more (on top of the bytes live tensors
 * hold now) would exceed the 4 GiB wasm heap, instead of letting wasm fail later with "memory access out of
 * bounds". Does nothing on other backends. Call it before allocating large tensors (e.g. attention scores).
 * @param bytes bytes about to be allocated (see `tensorBytes`)
 * @param what what is being allocated, for the message (e.g. `attention scores [8, 12, 512, 2048]`)
 */
export function assertTensorBudget(bytes: number, what: string): void {
  if (typeof bytes !== 'number' || !(bytes >= 0)) {
    throw new InvalidArgumentError({
      operation: 'assertTensorBudget',
      parameter: 'bytes',
      expected: 'a number >= 0',
      actual: String(bytes),
    });
  }
  if (tf.getBackend() !== 'wasm') return;
  const inUseBytes = tf.memory().numBytes;
  if (inUseBytes + bytes <= WASM_HEAP_LIMIT_BYTES) return;
  throw new TensorBudgetError(
    { what, requestedBytes: bytes, inUseBytes, limitBytes: WASM_HEAP_LIMIT_BYTES },
    `${what} needs ${formatBytes(bytes)}, but live tensors already hold ${formatBytes(inUseBytes)} and the wasm ` +
      `heap is capped at 4 GiB (${WASM_HEAP_LIMIT_BYTES} bytes). Use a smaller batch, segment length or memory ` +
      'length, or a native backend (ENGRAM_BACKEND=tensorflow).',
  );
}
