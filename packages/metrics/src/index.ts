// @engram/metrics: bits per character/byte, perplexity, error rate, throughput, memory, temporal range, memory telemetry.
export {
  meanNll,
  bitsPerToken,
  bitsPerCharacter,
  bitsPerByte,
  perplexity,
  wordLevelPerplexity,
  countWords,
  NllAccumulator,
} from './language-modelling.js';
export type { NllSummary } from './language-modelling.js';
export { errorRate, argmaxRows, ErrorRateAccumulator } from './error-rate.js';
export { Stopwatch, ThroughputMeter, monotonicSeconds } from './timing.js';
export type { Clock, ThroughputSummary } from './timing.js';
export { MemoryTracker, processMemory } from './memory-usage.js';
export type { EngineMemoryInfo, EngineMemoryReader, ProcessMemory, MemorySample, MemoryPeaks } from './memory-usage.js';
export { temporalRange } from './temporal-range.js';
export type { TemporalRangeSource } from './temporal-range.js';
export { TelemetryRecorder } from './telemetry.js';
export type { TelemetrySnapshot, LayerSeriesSummary, TelemetrySummary } from './telemetry.js';
export { MetricsError, InvalidMetricInputError, EmptyMetricError } from './errors.js';
