// Tests of PolicyKit.checkModulation: the key and query position shapes a positional modulate needs, failing with the policy's own error.
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { defineMemoryPolicy } from './define.js';
import type { PolicyErrorDetails, PolicyKit } from './define.js';
import { MemoryPolicyError } from './errors.js';
import type { MemoryPolicy, ModulationContext } from './policy.js';

/** A package's own usage error, as the span packages define theirs. */
class ProbeUsageError extends Error {
  override readonly name = 'ProbeUsageError';
  constructor(message: string, readonly details: PolicyErrorDetails) {
    super(message);
  }
}

const dimensions = { numLayers: 2, modelDim: 3, numHeads: 1, segmentLength: 2 };

/** A policy whose modulate only checks its context with the kit (an empty modulation); `ownError` gives it an error hook. */
function probePolicy(ownError: boolean): { policy: MemoryPolicy; kit: PolicyKit } {
  let captured: PolicyKit | null = null;
  const policy = defineMemoryPolicy({
    kind: 'probe',
    config: () => ({}),
    temporalRange: (numLayers) => numLayers * 2,
    memoryLength: () => 2,
    ...(ownError ? { error: (message: string, details: PolicyErrorDetails) => new ProbeUsageError(message, details) } : {}),
    modulate(context, kit) {
      kit.checkModulation(context, 'modulate');
      return {};
    },
    extend: (kit) => {
      captured = kit;
      return {};
    },
  });
  return { policy, kit: captured as unknown as PolicyKit };
}

/** What `action` throws (fails the test when it returns). */
function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('PolicyKit.checkModulation', () => {
  // Keys [2 rows, 3 keys, width 3] and the positions of the last two of them as queries.
  const keyHidden = tf.zeros([2, 3, 3]) as tf.Tensor3D;
  const keyPositions = tf.tensor2d([[0, 1, 2], [0, 1, 2]], undefined, 'int32');
  const queryPositions = tf.tensor2d([[1, 2], [1, 2]], undefined, 'int32');
  const oneRow = tf.tensor2d([[1, 2]], undefined, 'int32');
  const context: ModulationContext = { layer: 1, keyHidden, keyPositions, queryPositions, memorySlots: 1, training: false };
  const policies: MemoryPolicy[] = [];
  afterEach(() => policies.splice(0).forEach((policy) => policy.dispose()));
  afterAll(() => tf.dispose([keyHidden, keyPositions, queryPositions, oneRow]));
  const built = (ownError: boolean) => {
    const made = probePolicy(ownError);
    made.policy.build(dimensions);
    policies.push(made.policy);
    return made;
  };

  test('passes keyPositions [batch, keys] and queryPositions [batch, queries] of the same batch', () => {
    const { policy } = built(true);
    expect(policy.modulate?.(context)).toEqual({});
    expect(policy.modulate?.({ ...context, queryPositions: keyPositions })).toEqual({});
  });

  test('keyPositions that do not match keyHidden: the policy error, named, with the shape it needs', () => {
    const { policy } = built(true);
    for (const [bad, got] of [[queryPositions, '[2, 2]'], [oneRow, '[1, 2]'], [keyHidden, '[2, 3, 3]']] as const) {
      const error = thrown(() => policy.modulate?.({ ...context, keyPositions: bad as tf.Tensor2D }));
      expect(error).toBeInstanceOf(ProbeUsageError);
      expect((error as Error).name).toBe('ProbeUsageError');
      expect((error as Error).message).toBe(`probe policy: modulate: keyPositions must be [2, 3] to match keyHidden, got ${got}.`);
      expect((error as ProbeUsageError).details).toEqual({
        category: 'input',
        method: 'modulate',
        parameter: 'keyPositions',
        expected: '[2, 3]',
        actual: got,
      });
    }
  });

  test('queryPositions of another batch or rank: the policy error, named, with the shape it needs', () => {
    const { policy } = built(true);
    for (const [bad, got] of [[oneRow, '[1, 2]'], [keyHidden, '[2, 3, 3]']] as const) {
      const error = thrown(() => policy.modulate?.({ ...context, queryPositions: bad as tf.Tensor2D }));
      expect(error).toBeInstanceOf(ProbeUsageError);
      expect((error as Error).message).toBe(`probe policy: modulate: queryPositions must be [2, queries], got ${got}.`);
      expect((error as ProbeUsageError).details.parameter).toBe('queryPositions');
    }
  });

  test('keys are checked before queries, without an error hook the error is a MemoryPolicyError, and the method is named', () => {
    const { policy, kit } = built(false);
    const both = thrown(() => policy.modulate?.({ ...context, keyPositions: oneRow, queryPositions: oneRow }));
    expect(both).toBeInstanceOf(MemoryPolicyError);
    expect((both as Error).name).toBe('MemoryPolicyError');
    expect((both as Error).message).toBe('probe policy: modulate: keyPositions must be [2, 3] to match keyHidden, got [1, 2].');
    expect(() => kit.checkModulation({ ...context, queryPositions: oneRow }, 'mask')).toThrow(
      'probe policy: mask: queryPositions must be [2, queries], got [1, 2].',
    );
  });

  test('before build and after dispose it throws the life-cycle error', () => {
    const { policy, kit } = probePolicy(true);
    expect(() => kit.checkModulation(context, 'modulate')).toThrow(/^probe policy: modulate\(\) was called before build\(\)/);
    policy.build(dimensions);
    policy.dispose();
    expect(() => kit.checkModulation(context, 'modulate')).toThrow(/^probe policy: modulate\(\) was called after dispose\(\)/);
  });
});
