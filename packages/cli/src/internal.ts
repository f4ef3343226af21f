// @engram/cli/internal: how the engram command reports a thrown value (one line, exit code), shared with the bench app; outside the public API (no stability promise).
export { describeError, exitCodeOf } from './errors.js';
