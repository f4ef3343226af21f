// Finished training runs kept on disk (`engram-bench --cache DIR`): a long `--full` run can stop and start again, across sessions, and trains only the runs it has not finished.
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@engram/core/node';
import type { RunMeasurement } from './measure.js';

/** Bump when a change of the bench or the library makes earlier cached runs wrong. */
export const RUN_CACHE_VERSION = 1;

/** Everything that decides a run's result: the suite, mode, display name, configuration and a description of the data. */
export type RunIdentity = Record<string, unknown>;

/** A store of finished runs keyed by their identity. */
export interface RunCache {
  readonly directory: string;
  /** The run stored under `identity`, or null (absent, unreadable, or stored for a different identity). */
  load(identity: RunIdentity): Promise<RunMeasurement | null>;
  /** Stores `run` under `identity` (written atomically). */
  save(identity: RunIdentity, run: RunMeasurement): Promise<void>;
  /** Runs reused and runs stored so far. */
  readonly counts: { reused: number; stored: number };
}

/** JSON with object keys sorted, so equal identities hash equally whatever the key order. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );
}

interface StoredRun {
  version: number;
  identity: RunIdentity;
  storedAt: string;
  run: RunMeasurement;
}

/**
 * Opens (creating it when needed) a cache directory for one suite and mode. Files are named
 * `<suite>-<mode>-<name>-<hash>.json`; a file that cannot be read or parsed is reported through `warn` and trained
 * again (then replaced by the new result).
 */
export async function openRunCache(directory: string, scope: { suite: string; mode: string }, warn: (line: string) => void): Promise<RunCache> {
  await mkdir(directory, { recursive: true });
  const counts = { reused: 0, stored: 0 };
  const full = (identity: RunIdentity) => ({ version: RUN_CACHE_VERSION, ...scope, ...identity });
  const fileOf = (identity: RunIdentity) => {
    const hash = createHash('sha256').update(stableJson(full(identity))).digest('hex').slice(0, 16);
    const name = String(identity['name'] ?? 'run').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
    return join(directory, `${scope.suite}-${scope.mode}-${name}-${hash}.json`);
  };
  return {
    directory,
    counts,
    async load(identity) {
      const file = fileOf(identity);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        warn(`  run cache: cannot read ${file} (${(error as Error).message}); training the run again`);
        return null;
      }
      try {
        const stored = JSON.parse(text) as StoredRun;
        if (stored.version !== RUN_CACHE_VERSION || stableJson(stored.identity) !== stableJson(full(identity))) return null;
        counts.reused += 1;
        return stored.run;
      } catch (error) {
        warn(`  run cache: ${file} is not valid JSON (${(error as Error).message}); training the run again`);
        return null;
      }
    },
    async save(identity, run) {
      const stored: StoredRun = { version: RUN_CACHE_VERSION, identity: full(identity), storedAt: new Date().toISOString(), run };
      await writeFileAtomic(fileOf(identity), `${JSON.stringify(stored)}\n`);
      counts.stored += 1;
    },
  };
}
