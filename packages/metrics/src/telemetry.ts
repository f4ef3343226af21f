// Per-layer memory-size and span telemetry over training steps (SPEC 4 "Telemetry"), summarised per layer.
import { describeValue } from '@engram/core';
import { EmptyMetricError, InvalidMetricInputError } from './errors.js';

/**
 * One step's per-layer numbers. Structurally the same as `PolicyTelemetry` of `@engram/memory`
 * (`memorySlots` per layer plus named per-layer series such as `meanSpan`, `maxSpan`).
 */
export interface TelemetrySnapshot {
  /** Memory slots attention reads, per layer. */
  memorySlots: readonly number[];
  /** Further per-layer series, e.g. `meanSpan`, `maxSpan`, `compressedSlots`. */
  perLayer: Readonly<Record<string, readonly number[]>>;
}

/** Per-layer statistics of one series over the recorded steps. */
export interface LayerSeriesSummary {
  /** Mean over steps, per layer. */
  mean: number[];
  /** Minimum over steps, per layer. */
  min: number[];
  /** Maximum over steps, per layer. */
  max: number[];
  /** Value at the last recorded step, per layer. */
  last: number[];
}

/** Summary of a {@link TelemetryRecorder}. */
export interface TelemetrySummary {
  /** Steps recorded. */
  steps: number;
  /** Number of layers. */
  layers: number;
  /** Memory size per layer. */
  memorySlots: LayerSeriesSummary;
  /** Every other series (spans, compressed slots, ...), per layer. */
  perLayer: Record<string, LayerSeriesSummary>;
}

class SeriesStatistics {
  readonly sum: number[];
  readonly min: number[];
  readonly max: number[];
  last: number[];
  count = 0;

  constructor(layers: number) {
    this.sum = new Array<number>(layers).fill(0);
    this.min = new Array<number>(layers).fill(Number.POSITIVE_INFINITY);
    this.max = new Array<number>(layers).fill(Number.NEGATIVE_INFINITY);
    this.last = new Array<number>(layers).fill(Number.NaN);
  }

  add(values: readonly number[]): void {
    for (let layer = 0; layer < values.length; layer += 1) {
      const value = values[layer] ?? Number.NaN;
      this.sum[layer] = (this.sum[layer] ?? 0) + value;
      this.min[layer] = Math.min(this.min[layer] ?? value, value);
      this.max[layer] = Math.max(this.max[layer] ?? value, value);
    }
    this.last = [...values];
    this.count += 1;
  }

  summary(): LayerSeriesSummary {
    return {
      mean: this.sum.map((value) => value / this.count),
      min: [...this.min],
      max: [...this.max],
      last: [...this.last],
    };
  }
}

/**
 * Records per-layer memory size and span telemetry at every step and summarises it per layer
 * (mean, min, max, last). Optionally keeps the full history (`keepHistory: true`) for plots.
 */
export class TelemetryRecorder {
  readonly #keepHistory: boolean;
  readonly #history: { step: number; snapshot: TelemetrySnapshot }[] = [];
  #layers: number | null = null;
  #memorySlots: SeriesStatistics | null = null;
  readonly #perLayer = new Map<string, SeriesStatistics>();
  #steps = 0;

  constructor(options: { keepHistory?: boolean } = {}) {
    this.#keepHistory = options.keepHistory ?? false;
  }

  #checkSeries(name: string, values: readonly number[], layers: number): void {
    if (values.length !== layers) {
      throw new InvalidMetricInputError({
        operation: 'TelemetryRecorder.record',
        parameter: name,
        expected: `one value per layer (${layers})`,
        actual: `${values.length} values`,
        fix: 'Record telemetry of the same model at every step.',
      });
    }
    for (const value of values) {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new InvalidMetricInputError({
          operation: 'TelemetryRecorder.record',
          parameter: name,
          expected: 'finite numbers',
          actual: describeValue(value),
        });
      }
    }
  }

  /** Records the telemetry of one step (e.g. `policy.telemetry(state)` after the step). */
  record(step: number, snapshot: TelemetrySnapshot): void {
    const layers = this.#layers ?? snapshot.memorySlots.length;
    this.#checkSeries('memorySlots', snapshot.memorySlots, layers);
    for (const [name, values] of Object.entries(snapshot.perLayer)) {
      this.#checkSeries(`perLayer.${name}`, values, layers);
    }
    if (this.#layers === null) {
      this.#layers = layers;
      this.#memorySlots = new SeriesStatistics(layers);
    }
    this.#memorySlots?.add(snapshot.memorySlots);
    for (const [name, values] of Object.entries(snapshot.perLayer)) {
      let statistics = this.#perLayer.get(name);
      if (statistics === undefined) {
        statistics = new SeriesStatistics(layers);
        this.#perLayer.set(name, statistics);
      }
      statistics.add(values);
    }
    this.#steps += 1;
    if (this.#keepHistory) {
      const perLayer: Record<string, number[]> = {};
      for (const [name, values] of Object.entries(snapshot.perLayer)) perLayer[name] = [...values];
      this.#history.push({ step, snapshot: { memorySlots: [...snapshot.memorySlots], perLayer } });
    }
  }

  get steps(): number {
    return this.#steps;
  }

  /** Every recorded step (empty unless created with `keepHistory: true`). */
  history(): readonly { step: number; snapshot: TelemetrySnapshot }[] {
    return this.#history;
  }

  summary(): TelemetrySummary {
    if (this.#memorySlots === null || this.#layers === null) {
      throw new EmptyMetricError('TelemetryRecorder.summary', 'Record at least one step first.');
    }
    const perLayer: Record<string, LayerSeriesSummary> = {};
    for (const [name, statistics] of this.#perLayer) perLayer[name] = statistics.summary();
    return { steps: this.#steps, layers: this.#layers, memorySlots: this.#memorySlots.summary(), perLayer };
  }
}
