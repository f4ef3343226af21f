// Tests of saving and restoring the model's random state through its optional getRandomState/setRandomState.
import { describe, expect, it } from 'vitest';
import type { MemoryTransformer } from '@engram/model';
import { CheckpointMismatchError } from './errors.js';
import { modelHasRandomState, modelUsesRandomness, readModelRandomState, writeModelRandomState } from './random-state.js';

function fakeModel(extra: Record<string, unknown>, dropout = 0): MemoryTransformer {
  return { config: { dropout, attentionDropout: 0 }, ...extra } as unknown as MemoryTransformer;
}

describe('model random state', () => {
  it('reads and writes through the model methods when present', () => {
    let counters = { dropout: 3 };
    const model = fakeModel({
      getRandomState: () => ({ ...counters }),
      setRandomState: (state: { dropout: number }) => {
        counters = state;
      },
    }, 0.1);
    expect(modelHasRandomState(model)).toBe(true);
    expect(modelUsesRandomness(model)).toBe(true);
    const saved = readModelRandomState(model);
    counters = { dropout: 10 };
    writeModelRandomState(model, saved, 'checkpoint');
    expect(counters).toEqual({ dropout: 3 });
  });

  it('saves null for a model without random state, and refuses to restore a saved state into it', () => {
    const model = fakeModel({});
    expect(modelHasRandomState(model)).toBe(false);
    expect(modelUsesRandomness(model)).toBe(false);
    expect(readModelRandomState(model)).toBeNull();
    expect(() => writeModelRandomState(model, null, 'checkpoint')).not.toThrow();
    expect(() => writeModelRandomState(model, { dropout: 1 }, 'checkpoint')).toThrow(CheckpointMismatchError);
  });
});
