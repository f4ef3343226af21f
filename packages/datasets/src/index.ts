// Public API of @engram/datasets (browser-safe): the bundled book, tokenizers, contiguous-stream batching (SPEC 7) and seeded long-range tasks (SPEC 8). Files and downloads: '@engram/datasets/node'; tensors: '@engram/datasets/tensors'.
export * from './errors.js';
export { SeededRandom, deriveSeed, type SeededRandomState } from './random.js';

export {
  SPLIT_NAMES,
  countWords,
  createSplit,
  type CorpusPart,
  type CorpusSplit,
  type FilePart,
  type MemoryPart,
  type SplitName,
} from './corpora/parts.js';
export type { CorpusDownloadOptions, PreparedCorpus } from './corpora/types.js';
export type { ChecksumAlgorithm, FileChecksum } from './io/files.js';
export type { ProgressCallback, ProgressEvent } from './io/progress.js';
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
export { DEFAULT_SPLIT_FRACTIONS, splitByFractions, type ReadFileWindow, type SplittableDocument } from './corpora/fractions.js';
export { loadBundledBook, prepareBundledBook, type BundledBook, type BundledBookMetadata } from './corpora/bundled-book.js';

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
export { assertSameVocabulary, tokenizerFromDocument, type AnyTokenizer } from './tokenizers/document.js';

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
