// A child process for the kill-and-resume test: trains the tiny model with a checkpoint every step and a JSON-lines log, optionally resuming.
// Run: node --conditions=@engram/source --import tsx src/testing/train-child.ts '<json options>'
import { initBackend } from '@engram/kernels';
import { evaluationBatches } from '@engram/datasets';
import { train } from '../train.js';
import { createTinyBatcher, createTinyModel, tinyTokens } from './fixtures.js';

/** Options passed as the first command-line argument (JSON). */
export interface ChildOptions {
  checkpointDirectory: string;
  logPath: string;
  steps: number;
  resume: boolean;
  /** Sleep this long after each step, so the parent can kill the process mid-run (default 0). */
  stepDelayMilliseconds?: number;
  /** Residual dropout of the tiny model (default 0). */
  dropout?: number;
  /** Attention-probability dropout of the tiny model (default 0). */
  attentionDropout?: number;
}

async function main(): Promise<void> {
  const argument = process.argv[2];
  if (argument === undefined) throw new Error('train-child: pass the options as a JSON argument');
  const options = JSON.parse(argument) as ChildOptions;
  // Outside vitest nobody has chosen a backend: do what the CLI does (wasm, with the kernels it lacks).
  await initBackend({ backend: 'wasm' });
  const tokens = tinyTokens();
  const delay = options.stepDelayMilliseconds ?? 0;
  await train({
    model: createTinyModel(7, { dropout: options.dropout ?? 0, attentionDropout: options.attentionDropout ?? 0 }),
    data: createTinyBatcher(),
    evaluation: { batches: () => evaluationBatches(tokens.subarray(0, 120), { batchSize: 2, segmentLength: 8 }) },
    steps: options.steps,
    schedule: { learningRate: 3e-3, warmupSteps: 3 },
    evalEvery: 4,
    checkpoint: { directory: options.checkpointDirectory, every: 1, keepLast: 100 },
    resume: options.resume,
    log: { path: options.logPath },
    progress: 'none',
    onStep: async () => {
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    },
  });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
