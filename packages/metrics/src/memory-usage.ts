// Memory metrics: tensor bytes held by the tensor engine (sampled peak) and the process's resident set size.
import { describeValue } from '@engram/core';
import { InvalidMetricInputError } from './errors.js';

/** What the tracker needs from the tensor engine: `tf.memory()` has this shape. */
export interface EngineMemoryInfo {
  /** Bytes held by live tensors right now. */
  numBytes: number;
  /** Live tensors right now (optional). */
  numTensors?: number;
}

/** Reads the engine's current memory, e.g. `() => tf.memory()`. Injected so this package needs no tfjs. */
export type EngineMemoryReader = () => EngineMemoryInfo;

/** Process memory in bytes, from `process.memoryUsage()` and `process.resourceUsage()`. */
export interface ProcessMemory {
  /** Resident set size now. */
  rssBytes: number;
  /** Largest resident set size of the process so far, as the operating system reports it (not sampled). */
  maxRssBytes: number;
  /** V8 heap in use. */
  heapUsedBytes: number;
  /** Memory of C++ objects bound to JS objects, including ArrayBuffers (and the wasm heap). */
  externalBytes: number;
  /** ArrayBuffer and SharedArrayBuffer memory (part of `externalBytes`). */
  arrayBuffersBytes: number;
}

/** The process's memory now. `maxRssBytes` is the operating system's lifetime peak (`ru_maxrss`). */
export function processMemory(): ProcessMemory {
  const usage = process.memoryUsage();
  return {
    rssBytes: usage.rss,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    heapUsedBytes: usage.heapUsed,
    externalBytes: usage.external,
    arrayBuffersBytes: usage.arrayBuffers,
  };
}

/** One sample of a {@link MemoryTracker}. */
export interface MemorySample {
  /** Engine tensor bytes now (null without an engine reader). */
  tensorBytes: number | null;
  /** Live tensors now (null when the reader does not report it). */
  tensorCount: number | null;
  /** Resident set size now. */
  rssBytes: number;
}

/** Peaks observed by a {@link MemoryTracker}. */
export interface MemoryPeaks {
  /** Largest sampled engine tensor bytes (null without an engine reader). */
  peakTensorBytes: number | null;
  /** Largest sampled resident set size. */
  peakRssBytes: number;
  /** The operating system's peak resident set size of the whole process so far. */
  processMaxRssBytes: number;
  /** Number of samples taken. */
  samples: number;
}

/**
 * Tracks peak memory by sampling. TensorFlow.js reports only the CURRENT bytes of live tensors
 * (`tf.memory().numBytes`), so the peak is the largest value seen at the points where
 * {@link sample} is called: sample where memory is highest (e.g. right after the forward pass,
 * before tensors are disposed) to get a meaningful number. The resident set size is sampled the
 * same way; `processMaxRssBytes` is the operating system's true peak for the whole process.
 *
 * ```ts
 * const tracker = new MemoryTracker({ engine: () => tf.memory() });
 * tracker.sample();
 * tracker.peaks().peakTensorBytes;
 * ```
 */
export class MemoryTracker {
  readonly #engine: EngineMemoryReader | null;
  #peakTensorBytes: number | null = null;
  #peakRssBytes = 0;
  #samples = 0;

  constructor(options: { engine?: EngineMemoryReader } = {}) {
    if (options.engine !== undefined && typeof options.engine !== 'function') {
      throw new InvalidMetricInputError({
        operation: 'MemoryTracker',
        parameter: 'engine',
        expected: 'a function returning { numBytes }, e.g. () => tf.memory()',
        actual: describeValue(options.engine),
      });
    }
    this.#engine = options.engine ?? null;
  }

  /** Reads memory now and updates the peaks. */
  sample(): MemorySample {
    let tensorBytes: number | null = null;
    let tensorCount: number | null = null;
    if (this.#engine !== null) {
      const info = this.#engine();
      if (typeof info?.numBytes !== 'number' || !Number.isFinite(info.numBytes) || info.numBytes < 0) {
        throw new InvalidMetricInputError({
          operation: 'MemoryTracker.sample',
          parameter: 'engine()',
          expected: 'an object with a finite numBytes >= 0',
          actual: describeValue(info?.numBytes),
          fix: 'Pass () => tf.memory().',
        });
      }
      tensorBytes = info.numBytes;
      tensorCount = typeof info.numTensors === 'number' ? info.numTensors : null;
      this.#peakTensorBytes = Math.max(this.#peakTensorBytes ?? 0, tensorBytes);
    }
    const rssBytes = process.memoryUsage.rss();
    this.#peakRssBytes = Math.max(this.#peakRssBytes, rssBytes);
    this.#samples += 1;
    return { tensorBytes, tensorCount, rssBytes };
  }

  peaks(): MemoryPeaks {
    return {
      peakTensorBytes: this.#peakTensorBytes,
      peakRssBytes: this.#peakRssBytes,
      processMaxRssBytes: process.resourceUsage().maxRSS * 1024,
      samples: this.#samples,
    };
  }

  /** Forgets the peaks (e.g. between benchmark configurations). */
  reset(): void {
    this.#peakTensorBytes = null;
    this.#peakRssBytes = 0;
    this.#samples = 0;
  }
}
