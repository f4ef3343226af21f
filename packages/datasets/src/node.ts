// @engram/datasets/node (Node only): corpus files, downloads, archives, the cache, split readers, tokenizer files and terminal progress.
export { CACHE_DIRECTORY_ENVIRONMENT_VARIABLE, resolveCacheDirectory } from './io/cache.js';
export { downloadFile, type DownloadOptions, type DownloadResult } from './io/download.js';
export { hashFile, readFileWindow } from './io/files.js';
export { createTerminalProgressBar, type TerminalProgressBar } from './io/progress.js';
export { extractZipMembers, listZipMembers, looksLikeZip, type ZipExtraction, type ZipMemberInfo } from './io/zip.js';
export {
  countSplitWords,
  readSplitBytes,
  readSplitText,
  readSplitTextChunks,
  type TextChunk,
} from './corpora/split.js';
export { hutterSplitSizes, prepareEnwik8, prepareText8, type HutterCorpusOptions } from './corpora/hutter.js';
export { prepareWikiText103, type WikiTextOptions } from './corpora/wikitext.js';
export { PG19_SPLIT_FOLDERS, preparePg19, type Pg19Book, type Pg19Corpus, type Pg19Options } from './corpora/pg19.js';
export { prepareLocalCorpus, type LocalCorpusOptions } from './corpora/local.js';
export { CORPUS_NAMES, encodeCorpus, prepareCorpus, type CorpusName, type EncodedCorpus } from './corpora/prepare.js';
export { buildTokenizer, encodeSplit, type BuildTokenizerOptions, type EncodeSplitOptions } from './tokenizers/corpus.js';
export { loadTokenizer, saveTokenizer } from './tokenizers/io.js';
