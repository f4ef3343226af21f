// Child process of the pseudo-terminal progress test: draws a training bar, a message and an evaluation bar on its stderr.
import { createProgressReporter } from '../progress.js';

process.stderr.write(process.stderr.isTTY ? 'child saw a TTY\n' : 'child saw no TTY\n');
const reporter = createProgressReporter({ totalSteps: 3, startStep: 0 });
for (let step = 1; step <= 3; step += 1) {
  reporter.step({ step, loss: 2.5, learningRate: 1e-3, tokensPerSecond: 100, applied: true });
  if (step === 2) reporter.message('warning: above the bar');
}
reporter.evaluationStart({ split: 'validation', totalBatches: 4 });
for (let done = 1; done <= 4; done += 1) reporter.evaluationBatch(done);
reporter.evaluationEnd();
reporter.stop();
