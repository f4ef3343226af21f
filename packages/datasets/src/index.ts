// Public API of @engram/datasets: corpora, tokenizers, contiguous-stream batching (SPEC 7) and seeded long-range tasks (SPEC 8). Tensors live in '@engram/datasets/tensors'.
export * from './errors.js';
export { SeededRandom, deriveSeed, type SeededRandomState } from './random.js';

export { CACHE_DIRECTORY_ENVIRONMENT_VARIABLE, resolveCacheDirectory } from './io/cache.js';
export { downloadFile, type DownloadOptions, type DownloadResult } from './io/download.js';
export { hashFile, type ChecksumAlgorithm, type FileChecksum } from './io/files.js';
export { createTerminalProgressBar, type ProgressCallback, type ProgressEvent, type TerminalProgressBar } from './io/progress.js';
export { extractZipMembers, listZipMembers, looksLikeZip, type ZipExtraction, type ZipMemberInfo } from './io/zip.js';

export {
  SPLIT_NAMES,
  countSplitWords,
  countWords,
  createSplit,
  readSplitBytes,
  readSplitText,
  readSplitTextChunks,
  type CorpusPart,
  type CorpusSplit,
  type FilePart,
  type MemoryPart,
  type SplitName,
  type TextChunk,
} from './corpora/split.js';
export type { CorpusDownloadOptions, PreparedCorpus } from './corpora/types.js';
export {
  HUTTER_BASE_URL,
  HUTTER_SPLIT_FRACTIONS,
  KNOWN_FILES,
  PG19_BASE_URL,
  PG19_LISTING_URL,
  PG19_OFFICIAL_BOOK_COUNTS,
  PG19_OFFICIAL_WORD_COUNTS,
  WIKITEXT_BASE_URL,
  type KnownFile,
  type KnownMember,
} from './corpora/registry.js';
export { hutterSplitSizes, prepareEnwik8, prepareText8, type HutterCorpusOptions } from './corpora/hutter.js';
export { prepareWikiText103, type WikiTextOptions } from './corpora/wikitext.js';
export { PG19_SPLIT_FOLDERS, preparePg19, type Pg19Book, type Pg19Corpus, type Pg19Options } from './corpora/pg19.js';
export { DEFAULT_SPLIT_FRACTIONS, splitByFractions, type SplittableDocument } from './corpora/fractions.js';
export { prepareLocalCorpus, type LocalCorpusOptions } from './corpora/local.js';
export { loadBundledBook, prepareBundledBook, type BundledBook, type BundledBookMetadata } from './corpora/bundled-book.js';
export { CORPUS_NAMES, encodeCorpus, prepareCorpus, type CorpusName, type EncodedCorpus } from './corpora/prepare.js';

export type { Tokenizer, TokenizerDocument, TokenizerKind } from './tokenizers/types.js';
export { ByteTokenizer, createByteTokenizer } from './tokenizers/byte.js';
export { CharacterTokenizer, CharacterVocabularyBuilder, UNKNOWN_CHARACTER_TOKEN, createCharacterTokenizer } from './tokenizers/character.js';
export {
  END_OF_LINE_TOKEN,
  UNKNOWN_WORD_TOKEN,
  WordTokenizer,
  WordVocabularyBuilder,
  createWordTokenizer,
  type WordVocabularyOptions,
} from './tokenizers/word.js';
export {
  DEFAULT_SUBWORD_VOCAB_SIZE,
  SubwordTokenizer,
  SubwordVocabularyBuilder,
  createSubwordTokenizer,
  isHuggingFaceTokenizerDocument,
  type HuggingFaceTokenizerDocument,
  type SubwordVocabularyOptions,
} from './tokenizers/subword.js';
export { assertSameVocabulary, loadTokenizer, saveTokenizer, tokenizerFromDocument, type AnyTokenizer } from './tokenizers/io.js';
export { buildTokenizer, encodeSplit, type BuildTokenizerOptions, type EncodeSplitOptions } from './tokenizers/corpus.js';

export {
  StreamBatcher,
  evaluationBatches,
  planEvaluation,
  type BatcherState,
  type EvaluationPlan,
  type SegmentSource,
  type StreamBatchOptions,
  type TokenBatch,
} from './batching/stream-batcher.js';

export { createTaskVocabulary, decodeTaskTokens, type LongRangeTask, type TaskEpisode, type TaskVocabulary } from './tasks/types.js';
export { TaskStream, generateTaskBatch, taskEpisodeAt, type TaskBatch, type TaskStreamOptions } from './tasks/batches.js';
export { createCopyTask, type CopyTaskParameters } from './tasks/copy.js';
export { createObjectCollisionTask, quadrantOf, type ObjectCollisionParameters } from './tasks/collision.js';
export { createVariableTrackingTask, type VariableTrackingParameters } from './tasks/variable-tracking.js';
export { createTopicRecallTask, type TopicRecallParameters } from './tasks/topic-recall.js';
