// Training and evaluation progress on the terminal: cli-progress bars with elapsed time and ETA on a TTY (messages printed above them), plain timed lines otherwise (CI logs, pipes, files).
import cliProgress from 'cli-progress';

/** `'auto'`: bars when the stream is a TTY, lines otherwise; `'none'`: silent. */
export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

/** Numbers shown for a step. */
export interface ProgressStep {
  step: number;
  /** The step's loss in nats (task plus auxiliary losses). */
  loss: number;
  /** The language-model loss in nats; shown in bits per token (default: `loss`). */
  taskLoss?: number;
  learningRate: number;
  tokensPerSecond: number;
  applied: boolean;
}

/** Receives training progress. */
export interface ProgressReporter {
  step(info: ProgressStep): void;
  /** A one-off message (evaluation result, checkpoint, warning, summary) printed above the bars or as a line. */
  message(text: string): void;
  /** An evaluation pass begins (`totalBatches` null when unknown). */
  evaluationStart(info: { split: string; totalBatches: number | null }): void;
  /** `done` batches of the current evaluation pass are finished. */
  evaluationBatch(done: number): void;
  evaluationEnd(): void;
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
  /** Clock in milliseconds (default `Date.now`; tests pass a fake one). */
  now?: () => number;
}

/** `m:ss`, or `h:mm:ss` from an hour on. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const total = Math.round(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

const LN2 = Math.log(2);

function bitsPerToken(info: ProgressStep): string {
  return ((info.taskLoss ?? info.loss) / LN2).toFixed(4);
}

/** Elapsed time since `start` and the remaining time at the mean rate so far. */
function timing(startMs: number, nowMs: number, done: number, remaining: number): { elapsed: number; eta: number } {
  const elapsed = (nowMs - startMs) / 1000;
  return { elapsed, eta: done > 0 ? (elapsed / done) * remaining : Number.NaN };
}

const SILENT: ProgressReporter = {
  step: () => undefined,
  message: () => undefined,
  evaluationStart: () => undefined,
  evaluationBatch: () => undefined,
  evaluationEnd: () => undefined,
  stop: () => undefined,
};

/** A progress reporter for the chosen mode. */
export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const mode = options.mode ?? 'auto';
  if (mode === 'none') return SILENT;
  const now = options.now ?? Date.now;
  const useBar = mode === 'bar' || (mode === 'auto' && stream.isTTY === true);
  return useBar ? barReporter(options, stream, mode) : lineReporter(options, stream, now);
}

function lineReporter(options: ProgressOptions, stream: NodeJS.WritableStream, now: () => number): ProgressReporter {
  const every = options.lineEvery ?? Math.max(1, Math.round(options.totalSteps / 20));
  const start = now();
  let evaluation: { split: string; total: number | null; start: number; nextQuarter: number } | null = null;
  return {
    step: (info) => {
      if (info.step % every !== 0 && info.step !== options.totalSteps && info.applied) return;
      const time = timing(start, now(), info.step - options.startStep, options.totalSteps - info.step);
      const skipped = info.applied ? '' : ' (update skipped: non-finite)';
      stream.write(
        `step ${info.step}/${options.totalSteps} train ${bitsPerToken(info)} bits/token lr ${info.learningRate.toExponential(2)} ` +
          `${Math.round(info.tokensPerSecond)} tokens/s elapsed ${formatDuration(time.elapsed)} eta ${formatDuration(time.eta)}${skipped}\n`,
      );
    },
    message: (text) => {
      stream.write(`${text}\n`);
    },
    evaluationStart: ({ split, totalBatches }) => {
      evaluation = { split, total: totalBatches, start: now(), nextQuarter: 1 };
      stream.write(`evaluating ${split}${totalBatches === null ? '' : ` (${totalBatches} batches)`}\n`);
    },
    evaluationBatch: (done) => {
      if (evaluation === null || evaluation.total === null) return;
      // A line at each quarter of the pass, so a long evaluation shows it is moving.
      if (done < evaluation.total && done >= (evaluation.total * evaluation.nextQuarter) / 4) {
        while (done >= (evaluation.total * evaluation.nextQuarter) / 4) evaluation.nextQuarter += 1;
        const time = timing(evaluation.start, now(), done, evaluation.total - done);
        stream.write(
          `evaluating ${evaluation.split}: ${done}/${evaluation.total} batches elapsed ${formatDuration(time.elapsed)} eta ${formatDuration(time.eta)}\n`,
        );
      }
    },
    evaluationEnd: () => {
      evaluation = null;
    },
    stop: () => undefined,
  };
}

function barReporter(options: ProgressOptions, stream: NodeJS.WritableStream, mode: ProgressMode): ProgressReporter {
  const bars = new cliProgress.MultiBar(
    {
      stream: stream as NodeJS.WritableStream,
      hideCursor: true,
      clearOnComplete: false,
      noTTYOutput: mode === 'bar',
      barsize: 24,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const training = bars.create(
    options.totalSteps,
    options.startStep,
    { bitsPerToken: '-', learningRate: '-', tokensPerSecond: '-' },
    {
      format:
        'train [{bar}] {value}/{total} steps | {bitsPerToken} bits/token | lr {learningRate} | {tokensPerSecond} tokens/s | {duration_formatted} elapsed, eta {eta_formatted}',
    },
  );
  let evaluation: cliProgress.SingleBar | null = null;
  // MultiBar redraws on a timer, which cannot run inside a synchronous evaluation pass: redraw by hand there.
  let lastDraw = 0;
  const redraw = (force: boolean) => {
    const time = Date.now();
    if (force || time - lastDraw >= 100) {
      lastDraw = time;
      bars.update();
    }
  };
  return {
    step: (info) => {
      training.update(info.step, {
        bitsPerToken: bitsPerToken(info),
        learningRate: info.learningRate.toExponential(2),
        tokensPerSecond: Math.round(info.tokensPerSecond),
      });
    },
    message: (text) => {
      // Printed above the bars on the next redraw; redraw now so it is not held back.
      bars.log(`${text}\n`);
      redraw(true);
    },
    evaluationStart: ({ split, totalBatches }) => {
      evaluation = bars.create(
        totalBatches ?? 0,
        0,
        { split },
        {
          format:
            totalBatches === null
              ? '{split} {value} batches | {duration_formatted} elapsed'
              : '{split} [{bar}] {value}/{total} batches | {duration_formatted} elapsed, eta {eta_formatted}',
        },
      );
      redraw(true);
    },
    evaluationBatch: (done) => {
      evaluation?.update(done);
      redraw(false);
    },
    evaluationEnd: () => {
      if (evaluation !== null) {
        // Show the finished pass once before the bar goes.
        redraw(true);
        evaluation.stop();
        bars.remove(evaluation);
        evaluation = null;
      }
    },
    stop: () => {
      redraw(true);
      bars.stop();
    },
  };
}
