// Training progress on the terminal: a cli-progress bar on a TTY, plain lines otherwise (CI logs, pipes, files).
import cliProgress from 'cli-progress';

/** `'auto'`: a bar when the stream is a TTY, lines otherwise; `'none'`: silent. */
export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

/** Numbers shown for a step. */
export interface ProgressStep {
  step: number;
  loss: number;
  learningRate: number;
  tokensPerSecond: number;
  applied: boolean;
}

/** Receives training progress. */
export interface ProgressReporter {
  step(info: ProgressStep): void;
  /** A one-off message (evaluation result, checkpoint, warning) printed above the bar or as a line. */
  message(text: string): void;
  stop(): void;
}

/** Options of {@link createProgressReporter}. */
export interface ProgressOptions {
  mode?: ProgressMode;
  /** Last step of the run. */
  totalSteps: number;
  /** Steps already done (a resumed run starts the bar there). */
  startStep: number;
  /** Where to draw (default `process.stderr`). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** In line mode, print every this many steps (default: about 20 lines per run). */
  lineEvery?: number;
}

function formatLine(info: ProgressStep, totalSteps: number): string {
  const skipped = info.applied ? '' : ' (update skipped: non-finite)';
  return (
    `step ${info.step}/${totalSteps} loss ${info.loss.toFixed(4)} lr ${info.learningRate.toExponential(2)} ` +
    `${Math.round(info.tokensPerSecond)} tokens/s${skipped}\n`
  );
}

/** A progress reporter for the chosen mode. */
export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const mode = options.mode ?? 'auto';
  const useBar = mode === 'bar' || (mode === 'auto' && stream.isTTY === true);
  if (mode === 'none') {
    return { step: () => undefined, message: () => undefined, stop: () => undefined };
  }
  if (!useBar) {
    const every = options.lineEvery ?? Math.max(1, Math.round(options.totalSteps / 20));
    return {
      step: (info) => {
        if (info.step % every === 0 || info.step === options.totalSteps || !info.applied) {
          stream.write(formatLine(info, options.totalSteps));
        }
      },
      message: (text) => {
        stream.write(`${text}\n`);
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream: stream as NodeJS.WritableStream,
      format: 'train [{bar}] {value}/{total} | loss {loss} | lr {learningRate} | {tokensPerSecond} tokens/s | eta {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      noTTYOutput: mode === 'bar',
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(options.totalSteps, options.startStep, { loss: '-', learningRate: '-', tokensPerSecond: '-' });
  return {
    step: (info) => {
      bar.update(info.step, {
        loss: info.loss.toFixed(4),
        learningRate: info.learningRate.toExponential(2),
        tokensPerSecond: Math.round(info.tokensPerSecond),
      });
    },
    message: (text) => {
      // cli-progress redraws the bar on the next update; clear the line, print, move on.
      stream.write(`\r\u001b[2K${text}\n`);
    },
    stop: () => bar.stop(),
  };
}
