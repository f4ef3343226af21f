// Tests of terminal progress: plain lines off a TTY, a cli-progress bar on a TTY, silence on request.
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
    const reporter = createProgressReporter({ totalSteps: 10, startStep: 0, stream, lineEvery: 4 });
    for (let step = 1; step <= 10; step += 1) reporter.step(stepInfo(step, step !== 3));
    reporter.message('evaluation done');
    reporter.stop();
    expect(text().split('\n').filter(Boolean)).toEqual([
      'step 3/10 loss 2.5000 lr 1.00e-3 1234 tokens/s (update skipped: non-finite)',
      'step 4/10 loss 2.5000 lr 1.00e-3 1234 tokens/s',
      'step 8/10 loss 2.5000 lr 1.00e-3 1234 tokens/s',
      'step 10/10 loss 2.5000 lr 1.00e-3 1234 tokens/s',
      'evaluation done',
    ]);
  });

  it('draws a bar on a TTY', () => {
    const { stream, text } = capture(true);
    const reporter = createProgressReporter({ totalSteps: 4, startStep: 1, stream });
    reporter.step(stepInfo(2));
    reporter.message('hello');
    reporter.stop();
    expect(text()).toContain('train [');
    expect(text()).toContain('loss 2.5000');
    expect(text()).toContain('hello');
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
