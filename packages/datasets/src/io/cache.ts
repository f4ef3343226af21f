// Where downloaded corpora live: an explicit option, else ENGRAM_CACHE_DIR, else the XDG cache folder, else ~/.cache/engram.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Name of the environment variable that moves the cache folder. */
export const CACHE_DIRECTORY_ENVIRONMENT_VARIABLE = 'ENGRAM_CACHE_DIR';

/**
 * The cache folder to use, as an absolute path (not created here).
 * Order: `explicit` argument, `$ENGRAM_CACHE_DIR`, `$XDG_CACHE_HOME/engram`, `~/.cache/engram`.
 */
export function resolveCacheDirectory(explicit?: string, environment: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined && explicit !== '') return resolve(explicit);
  const fromEnvironment = environment[CACHE_DIRECTORY_ENVIRONMENT_VARIABLE];
  if (fromEnvironment !== undefined && fromEnvironment !== '') return resolve(fromEnvironment);
  const xdg = environment.XDG_CACHE_HOME;
  if (xdg !== undefined && xdg !== '') return join(resolve(xdg), 'engram');
  return join(homedir(), '.cache', 'engram');
}
