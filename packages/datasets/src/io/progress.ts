// A terminal progress bar for downloads (cli-progress), drawn only when the output stream is a TTY.
import cliProgress from 'cli-progress';

/** One progress report: bytes received so far and the total when the server or file says it. */
export interface ProgressEvent {
  /** What is being transferred (a URL or a path). */
  source: string;
  /** Where it is being written. */
  destination: string;
  receivedBytes: number;
  /** Total size in bytes, or null when unknown. */
  totalBytes: number | null;
}

/** A callback that receives progress reports. */
export type ProgressCallback = (event: ProgressEvent) => void;

/** A progress bar: feed it events with `update`, close it with `stop`. */
export interface TerminalProgressBar {
  readonly update: ProgressCallback;
  readonly stop: () => void;
  /** Whether anything is drawn (false when the stream is not a TTY). */
  readonly drawing: boolean;
}

/**
 * A progress bar on `stream` (default stderr). On a non-TTY stream it draws nothing,
 * so logs and CI output stay clean.
 */
export function createTerminalProgressBar(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): TerminalProgressBar {
  if (!stream.isTTY) {
    return { update: () => undefined, stop: () => undefined, drawing: false };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${label} [{bar}] {percentage}% | {receivedMegabytes}/{totalMegabytes} MB`,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const megabytes = (bytes: number) => (bytes / 1_000_000).toFixed(1);
  return {
    drawing: true,
    update: (event) => {
      const total = event.totalBytes ?? Math.max(event.receivedBytes, 1);
      const payload = { receivedMegabytes: megabytes(event.receivedBytes), totalMegabytes: event.totalBytes === null ? '?' : megabytes(total) };
      if (!started) {
        bar.start(total, event.receivedBytes, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(event.receivedBytes, payload);
      }
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
