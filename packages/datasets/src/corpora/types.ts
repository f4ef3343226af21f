// What every corpus loader returns and the options they share.
import type { ProgressCallback } from '../io/progress.js';
import type { TokenizerKind } from '../tokenizers/types.js';
import type { CorpusSplit, SplitName } from './split.js';

/** Options every downloading loader accepts. */
export interface CorpusDownloadOptions {
  /** Cache folder (default: `$ENGRAM_CACHE_DIR`, else `$XDG_CACHE_HOME/engram`, else `~/.cache/engram`). */
  cacheDirectory?: string;
  /** Download progress reports. */
  onProgress?: ProgressCallback;
  /** Draw a progress bar on stderr (`'auto'`, the default, only on a TTY). */
  progressBar?: boolean | 'auto';
  /** Download again even if a verified copy is cached (the cached copy stays until the new one is verified). */
  force?: boolean;
  /** Further attempts after a network error, a cut transfer or HTTP 408/429/5xx, each resuming where the last stopped (default 4). */
  retries?: number;
}

/** A corpus ready to tokenize: three splits of byte ranges, plus where they came from. */
export interface PreparedCorpus {
  /** e.g. `enwik8`, `wikitext-103-raw`, `pg19`, `moby-dick`, `local`. */
  name: string;
  /** Human-readable title. */
  title: string;
  /** Licence of the text. */
  license: string;
  /** Where the data came from (URL or local path). */
  origin: string;
  /** The tokenizer the usual benchmark uses with this corpus. */
  recommendedTokenizer: TokenizerKind;
  /** How the splits were made. */
  splitRule: string;
  splits: Record<SplitName, CorpusSplit>;
  /** Published word counts per split when the corpus has them (PG-19), else null. Count your own with countSplitWords. */
  officialWordCounts: Readonly<Record<SplitName, number>> | null;
}
