// Where commands write: stdout for results, stderr for progress and errors (injectable for tests).

/** Output streams of a command run. */
export interface CommandIo {
  /** Results (tables, generated text, JSON). */
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  /** Progress, log lines and errors. */
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** The process's own streams. */
export const processIo: CommandIo = { stdout: process.stdout, stderr: process.stderr };

/** Writes one line to a stream. */
export function writeLine(stream: NodeJS.WritableStream, line = ''): void {
  stream.write(`${line}\n`);
}

/** An in-memory CommandIo for tests: collects what commands write. */
export function captureIo(): CommandIo & { output(): string; errors(): string } {
  const chunks = { out: [] as string[], err: [] as string[] };
  const stream = (target: string[]): NodeJS.WritableStream =>
    ({
      write(chunk: string | Uint8Array): boolean {
        target.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
        return true;
      },
      isTTY: false,
    }) as unknown as NodeJS.WritableStream;
  return {
    stdout: stream(chunks.out),
    stderr: stream(chunks.err),
    output: () => chunks.out.join(''),
    errors: () => chunks.err.join(''),
  };
}
