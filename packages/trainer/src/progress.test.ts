// Tests of terminal progress: timed plain lines off a TTY, cli-progress bars on a fake TTY and in a real pseudo-terminal (util-linux script), silence on request.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgressReporter } from './progress.js';

function capture(isTTY: boolean): { stream: PassThrough & { isTTY?: boolean; columns?: number }; text: () => string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  stream.isTTY = isTTY;
  stream.columns = 120;
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
  });
  return { stream, text: () => text };
}

const stepInfo = (step: number, applied = true) => ({ step, loss: 2.5, learningRate: 1e-3, tokensPerSecond: 1234.4, applied });

describe('progress', () => {
  it('prints plain lines every N steps, on skipped steps and at the end when the stream is not a TTY', () => {
    const { stream, text } = capture(false);
    // A fake clock: one second per step, so elapsed and ETA are known exactly.
    let clock = 0;
    const reporter = createProgressReporter({ totalSteps: 10, startStep: 0, stream, lineEvery: 4, now: () => clock });
    for (let step = 1; step <= 10; step += 1) {
      clock += 1000;
      reporter.step(stepInfo(step, step !== 3));
    }
    reporter.evaluationStart({ split: 'validation', totalBatches: 8 });
    for (let done = 1; done <= 8; done += 1) {
      clock += 500;
      reporter.evaluationBatch(done);
    }
    reporter.evaluationEnd();
    reporter.message('evaluation done');
    reporter.stop();
    // 2.5 nats = 3.6067 bits.
    expect(text().split('\n').filter(Boolean)).toEqual([
      'step 3/10 train 3.6067 bits/token lr 1.00e-3 1234 tokens/s elapsed 0:03 eta 0:07 (update skipped: non-finite)',
      'step 4/10 train 3.6067 bits/token lr 1.00e-3 1234 tokens/s elapsed 0:04 eta 0:06',
      'step 8/10 train 3.6067 bits/token lr 1.00e-3 1234 tokens/s elapsed 0:08 eta 0:02',
      'step 10/10 train 3.6067 bits/token lr 1.00e-3 1234 tokens/s elapsed 0:10 eta 0:00',
      'evaluating validation (8 batches)',
      'evaluating validation: 2/8 batches elapsed 0:01 eta 0:03',
      'evaluating validation: 4/8 batches elapsed 0:02 eta 0:02',
      'evaluating validation: 6/8 batches elapsed 0:03 eta 0:01',
      'evaluation done',
    ]);
  });

  it('draws a bar on a TTY', () => {
    const { stream, text } = capture(true);
    const reporter = createProgressReporter({ totalSteps: 4, startStep: 1, stream });
    reporter.step(stepInfo(2));
    reporter.message('hello');
    reporter.evaluationStart({ split: 'validation', totalBatches: 3 });
    reporter.evaluationBatch(3);
    reporter.evaluationEnd();
    reporter.stop();
    const output = text();
    expect(output).toContain('train [');
    expect(output).toMatch(/2\/4 steps \| 3\.6067 bits\/token \| lr 1\.00e-3 \| 1234 tokens\/s \| \d+s elapsed, eta/);
    expect(output).toMatch(/validation \[[^\]]*\] 3\/3 batches \| \d+s elapsed, eta/);
    // The message is printed once, on a cleared line of its own, never inside a bar line.
    expect(output.split('hello').length).toBe(2);
    expect(output).toContain('\u001b[2Khello\n');
  });

  it.runIf(existsSync('/usr/bin/script'))('draws bars and messages above them in a real pseudo-terminal', () => {
    // util-linux `script` runs the child on a pseudo-terminal (stderr is a TTY there) and copies what it draws.
    const child = fileURLToPath(new URL('./testing/progress-child.ts', import.meta.url));
    const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
    const output = execFileSync('/usr/bin/script', ['-qfec', `${tsx} --conditions=@engram/source ${child}`, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, COLUMNS: '150' },
    });
    expect(output).toContain('child saw a TTY');
    expect(output).toMatch(/train \[[^\]]*\] 3\/3 steps \| 3\.6067 bits\/token/);
    expect(output).toMatch(/validation \[[^\]]*\] 4\/4 batches/);
    expect(output.split('warning: above the bar').length).toBe(2);
    expect(output).toContain('\u001b[2Kwarning: above the bar');
  });

  it('stays silent with mode none', () => {
    const { stream, text } = capture(true);
    const reporter = createProgressReporter({ mode: 'none', totalSteps: 4, startStep: 0, stream });
    reporter.step(stepInfo(1));
    reporter.message('x');
    reporter.stop();
    expect(text()).toBe('');
  });
});
