// Tests of the shared argument checks through the metrics that use them: the full message text, the error class and its fields.
import { fifoPolicyDescriptor } from '@engram/memory';
import { describe, expect, it } from 'vitest';
import { InvalidMetricInputError, ThroughputMeter, bitsPerToken, errorRate, temporalRange } from './index.js';

/** The error `run` throws (fails the test when it throws none). */
function thrown(run: () => unknown): InvalidMetricInputError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidMetricInputError);
    return error as InvalidMetricInputError;
  }
  throw new Error('expected an InvalidMetricInputError, but nothing was thrown');
}

describe('argument checks', () => {
  it.each([
    [() => errorRate(-1, 4), 'errorRate', 'errors', 'errorRate: parameter "errors" must be an integer >= 0, got -1.'],
    [() => errorRate(1.5, 4), 'errorRate', 'errors', 'errorRate: parameter "errors" must be an integer >= 0, got 1.5.'],
    [() => errorRate(0, 0), 'errorRate', 'labelled', 'errorRate: parameter "labelled" must be an integer > 0, got 0. Evaluate at least one labelled position.'],
    [() => new ThroughputMeter({ warmupBatches: 0.5 }), 'ThroughputMeter', 'warmupBatches', 'ThroughputMeter: parameter "warmupBatches" must be an integer >= 0, got 0.5.'],
    [() => new ThroughputMeter().record(-1, 1), 'ThroughputMeter.record', 'tokens', 'ThroughputMeter.record: parameter "tokens" must be a finite number >= 0, got -1.'],
    [() => new ThroughputMeter().record(1, Number.POSITIVE_INFINITY), 'ThroughputMeter.record', 'seconds', 'ThroughputMeter.record: parameter "seconds" must be a finite number >= 0, got Infinity.'],
    [() => temporalRange(fifoPolicyDescriptor, { memoryLength: 4 }, 0), 'temporalRange(fifo)', 'numLayers', 'temporalRange(fifo): parameter "numLayers" must be an integer >= 1, got 0.'],
    [() => temporalRange(fifoPolicyDescriptor, { memoryLength: 4 }, '2' as unknown as number), 'temporalRange(fifo)', 'numLayers', 'temporalRange(fifo): parameter "numLayers" must be an integer >= 1, got "2".'],
    [() => bitsPerToken(Number.NaN, 3), 'bitsPerToken', 'nllSum', 'bitsPerToken: parameter "nllSum" must be a finite number >= 0, got NaN. Pass the sum of per-token NLL in nats.'],
    [() => bitsPerToken(1, 0), 'bitsPerToken', 'count', 'bitsPerToken: parameter "count" must be a finite number > 0, got 0. Pass the number of predicted tokens (at least one).'],
  ])('%#: names the operation and parameter, what was expected and what was given', (run, operation, parameter, message) => {
    const error = thrown(run);
    expect(error.name).toBe('InvalidMetricInputError');
    expect(error.operation).toBe(operation);
    expect(error.parameter).toBe(parameter);
    expect(error.message).toBe(message);
  });
});
