// Kill-and-resume: a training process killed with SIGKILL and resumed logs the same losses, bit for bit, as an uninterrupted run, without and with dropout.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkpointDirectoryName } from './checkpoint-store.js';
import { readTrainingLog } from './log.js';
import type { ChildOptions } from './testing/train-child.js';
import { temporaryFolderEachTest } from './testing/runs.js';

const packageRoot = fileURLToPath(new URL('..', import.meta.url));
const childScript = fileURLToPath(new URL('./testing/train-child.ts', import.meta.url));
const STEPS = 14;
const KILL_AFTER_STEP = 6;

function startChild(options: ChildOptions): { process: ChildProcess; done: Promise<{ code: number | null; signal: string | null; stderr: string }> } {
  const child = spawn(process.execPath, ['--conditions=@engram/source', '--import', 'tsx', childScript, JSON.stringify(options)], {
    cwd: packageRoot,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const done = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
  return { process: child, done };
}

/** Highest step with a complete record in a log being written. */
function loggedStep(path: string): number {
  if (!existsSync(path)) return 0;
  let highest = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    try {
      const record = JSON.parse(line) as { type?: string; step?: number };
      if (record.type === 'step' && typeof record.step === 'number') highest = Math.max(highest, record.step);
    } catch {
      // a line being written
    }
  }
  return highest;
}

async function waitUntil(condition: () => boolean, timeoutMilliseconds: number, what: string): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMilliseconds) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The random state saved in a checkpoint's trainer.json. */
function savedRandomState(checkpointDirectory: string, step: number): { dropoutCalls: number; attentionDropoutCalls: number[] } {
  const path = join(checkpointDirectory, checkpointDirectoryName(step), 'trainer.json');
  return (JSON.parse(readFileSync(path, 'utf8')) as { random: { dropoutCalls: number; attentionDropoutCalls: number[] } }).random;
}

describe.each([
  { name: 'without dropout', dropout: 0, attentionDropout: 0 },
  { name: 'with residual and attention dropout', dropout: 0.1, attentionDropout: 0.1 },
])('kill and resume $name', ({ dropout, attentionDropout }) => {
  const folder = temporaryFolderEachTest('engram-resume-');

  it('continues after SIGKILL with losses identical to an uninterrupted run', { timeout: 180_000 }, async () => {
    const uninterrupted = startChild({
      checkpointDirectory: join(folder(), 'reference', 'checkpoints'),
      logPath: join(folder(), 'reference', 'log.jsonl'),
      steps: STEPS,
      resume: false,
      dropout,
      attentionDropout,
    });
    const interruptedOptions: ChildOptions = {
      checkpointDirectory: join(folder(), 'interrupted', 'checkpoints'),
      logPath: join(folder(), 'interrupted', 'log.jsonl'),
      steps: STEPS,
      resume: false,
      stepDelayMilliseconds: 150,
      dropout,
      attentionDropout,
    };
    const first = startChild(interruptedOptions);
    try {
      await waitUntil(() => loggedStep(interruptedOptions.logPath) >= KILL_AFTER_STEP, 150_000, `step ${KILL_AFTER_STEP} in the log`);
    } finally {
      first.process.kill('SIGKILL');
    }
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const reachedBeforeKill = loggedStep(interruptedOptions.logPath);
    expect(reachedBeforeKill).toBeGreaterThanOrEqual(KILL_AFTER_STEP);
    expect(reachedBeforeKill).toBeLessThan(STEPS);

    const resumed = startChild({ ...interruptedOptions, resume: true, stepDelayMilliseconds: 0 });
    const [resumedExit, referenceExit] = await Promise.all([resumed.done, uninterrupted.done]);
    expect(resumedExit.stderr).toBe('');
    expect(resumedExit.code).toBe(0);
    expect(referenceExit.code).toBe(0);

    const reference = readTrainingLog(join(folder(), 'reference', 'log.jsonl'));
    const continued = readTrainingLog(interruptedOptions.logPath);
    // It really resumed from a checkpoint written before the kill (not from scratch).
    expect(continued.headers).toHaveLength(2);
    const resumedFrom = continued.headers[1]?.resumedFromStep as number;
    expect(resumedFrom).toBeGreaterThanOrEqual(KILL_AFTER_STEP - 1);
    expect(resumedFrom).toBeLessThanOrEqual(reachedBeforeKill);
    expect(continued.end).toMatchObject({ reason: 'completed', step: STEPS });

    const pick = (records: Record<string, unknown>[]) =>
      records.map((record) => ({ step: record.step, loss: record.loss, gradientNorm: record.gradientNorm, learningRate: record.learningRate }));
    expect(pick(continued.steps).map((record) => record.step)).toEqual(Array.from({ length: STEPS }, (_, index) => index + 1));
    // Bit for bit: toEqual compares numbers with Object.is.
    expect(pick(continued.steps)).toEqual(pick(reference.steps));
    const losses = (records: Record<string, unknown>[]) => records.map((record) => [record.step, record.nllSum, record.count]);
    expect(losses(continued.evaluations)).toEqual(losses(reference.evaluations));
    expect(continued.steps.filter((record) => (record.step as number) > KILL_AFTER_STEP)).toHaveLength(STEPS - KILL_AFTER_STEP);

    // The dropout streams really ran (or really did not), were saved at the resume point, and ended where the uninterrupted run's did.
    const atResume = savedRandomState(interruptedOptions.checkpointDirectory, resumedFrom);
    expect(atResume.attentionDropoutCalls).toHaveLength(2);
    if (dropout > 0) expect(atResume.dropoutCalls).toBeGreaterThan(0);
    else expect(atResume.dropoutCalls).toBe(0);
    for (const calls of atResume.attentionDropoutCalls) {
      if (attentionDropout > 0) expect(calls).toBeGreaterThan(0);
      else expect(calls).toBe(0);
    }
    expect(savedRandomState(interruptedOptions.checkpointDirectory, STEPS)).toEqual(
      savedRandomState(join(folder(), 'reference', 'checkpoints'), STEPS),
    );
  });
});
