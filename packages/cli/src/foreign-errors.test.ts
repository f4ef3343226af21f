// Tests that the command recognises errors of @engram/kernels and @engram/trainer made by a second copy of those packages (isInstance, not instanceof).
import { join } from 'node:path';
import { EngramError } from '@engram/core';
import { BackendUnavailableError, TensorBudgetError, assertTensorBudget, initBackend } from '@engram/kernels';
import { NonFiniteLossError } from '@engram/trainer';
import { train } from '@engram/trainer/node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { setupBackend } from './backend.js';
import { assertFits } from './budget.js';
import { trainCommand } from './commands/train.js';
import { CliError } from './errors.js';
import { captureIo } from './io.js';
import { temporaryRoot } from './test-support.js';

// The real functions, wrapped so that one call can be made to throw a foreign error.
vi.mock('@engram/kernels', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@engram/kernels')>();
  return { ...actual, initBackend: vi.fn(actual.initBackend), assertTensorBudget: vi.fn(actual.assertTensorBudget) };
});
vi.mock('@engram/trainer/node', async (importOriginal) => {
  const actual = await importOriginal<typeof import('@engram/trainer/node')>();
  return { ...actual, train: vi.fn(actual.train) };
});

/**
 * Error classes named like the real ones but made by other class objects (with a base class of their own), as a
 * second installed copy of @engram/kernels or @engram/trainer (a bundled and an installed one) makes them.
 */
function secondCopy() {
  class CopiedBackendUnavailableError extends EngramError {
    override readonly name = 'BackendUnavailableError';
    constructor(readonly backend: string, message: string) {
      super(message);
    }
  }
  class CopiedTensorBudgetError extends EngramError {
    override readonly name = 'TensorBudgetError';
    constructor(readonly limitBytes: number, readonly inUseBytes: number, message: string) {
      super(message);
    }
  }
  class CopiedNonFiniteLossError extends EngramError {
    override readonly name = 'NonFiniteLossError';
    readonly during = 'training';
    constructor(readonly step: number, readonly inARow: number) {
      super(`train: stopped at step ${step}`);
    }
  }
  // The other copy's classes carry the same class names as ours (isInstance compares those across copies).
  const classes = {
    BackendUnavailableError: CopiedBackendUnavailableError,
    TensorBudgetError: CopiedTensorBudgetError,
    NonFiniteLossError: CopiedNonFiniteLossError,
  };
  for (const [name, copied] of Object.entries(classes)) Object.defineProperty(copied, 'name', { value: name });
  return classes;
}

const copy = secondCopy();
const root = temporaryRoot('engram-cli-foreign-');
afterEach(() => vi.clearAllMocks());

describe('errors from a second copy of a library package', () => {
  it('the copies are not instanceof the classes the command imports, but isInstance knows them', () => {
    const errors = [
      [new copy.BackendUnavailableError('tensorflow-gpu', 'x'), BackendUnavailableError],
      [new copy.TensorBudgetError(1, 0, 'x'), TensorBudgetError],
      [new copy.NonFiniteLossError(5, 3), NonFiniteLossError],
    ] as const;
    for (const [error, real] of errors) {
      expect(error).not.toBeInstanceOf(real);
      expect(real.isInstance(error)).toBe(true);
    }
  });

  it('setupBackend turns a foreign BackendUnavailableError into advice naming --backend', async () => {
    const foreign = new copy.BackendUnavailableError(
      'tensorflow-gpu',
      'tensorflow-gpu cannot be loaded here: install @tensorflow/tfjs-node-gpu, or pick another backend (ENGRAM_BACKEND=wasm or cpu).',
    );
    vi.mocked(initBackend).mockRejectedValueOnce(foreign);
    const failure = await setupBackend('tensorflow-gpu').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(CliError);
    expect((failure as CliError).message).toBe(
      'tensorflow-gpu cannot be loaded here: install @tensorflow/tfjs-node-gpu, or choose another with --backend (auto, wasm or cpu)',
    );
    expect((failure as CliError).cause).toBe(foreign);
  });

  it('assertFits turns a foreign TensorBudgetError into a usage error naming the heap and the fix', () => {
    const gibibyte = 1024 ** 3;
    vi.mocked(assertTensorBudget).mockImplementationOnce(() => {
      throw new copy.TensorBudgetError(4 * gibibyte, gibibyte, 'over the cap');
    });
    const estimate = { weights: gibibyte, optimizer: 0, memoryState: 0, activations: 4 * gibibyte, total: 5 * gibibyte };
    let failure: unknown;
    try {
      assertFits(estimate, 'one step', 'lower --batch-size', { machineBytes: 64 * gibibyte });
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(CliError);
    expect((failure as CliError).exitCode).toBe(2);
    expect((failure as CliError).message).toMatch(
      /^one step needs about 5\.00 GiB .*, more than the wasm heap's 4\.00 GiB \(1\.00 GiB already in use\): lower --batch-size, or use a native backend/,
    );
  });

  it('train turns a foreign NonFiniteLossError into the stop message with the command\'s flags', async () => {
    vi.mocked(train).mockRejectedValueOnce(new copy.NonFiniteLossError(5, 3));
    const out = join(root, 'diverged');
    const settings = ['model.modelDim=16', 'model.numHeads=2', 'model.numLayers=1', 'model.feedForwardDim=32', 'model.segmentLength=8', 'training.steps=2'];
    const failure = await trainCommand({ kind: 'txl', settings, out, progress: 'none', backend: 'wasm' }, captureIo()).catch(
      (error: unknown) => error,
    );
    expect(vi.mocked(train)).toHaveBeenCalledTimes(1);
    expect(failure).toBeInstanceOf(CliError);
    expect((failure as CliError).message).toMatch(
      new RegExp(`^training stopped at step 5: 3 steps in a row had a non-finite loss or gradient .*--learning-rate.*; ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} keeps the log`),
    );
  });
});
