// Error classes of @engram/datasets: each has a stable `name`, an optional `cause`, and a message that names the file or parameter, what was expected, what was found, and how to fix it.
import { EngramError, namedError, describeValue } from '@engram/core';

/** Base class of every error thrown on purpose by this package. */
export class DatasetError extends EngramError {
  override name = 'DatasetError';
}

/** A parameter had a value outside what the function accepts. */
export class InvalidArgumentError extends namedError(DatasetError, 'InvalidArgumentError') {
  constructor(readonly parameter: string, expected: string, actual: unknown, fix?: string, options?: { cause?: unknown }) {
    super(
      `Invalid ${parameter}: expected ${expected}, got ${describeValue(actual)}.${fix ? ` ${fix}` : ''}`,
      options,
    );
  }
}

/** A download failed before any byte could be verified (network, HTTP status, missing local file). */
export class DownloadError extends namedError(DatasetError, 'DownloadError') {
  /** True for failures worth retrying: network errors, interrupted transfers, HTTP 408, 429 and 5xx. */
  readonly retryable: boolean;
  constructor(readonly url: string, readonly destination: string, reason: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(
      `Download of ${url} to ${destination} failed: ${reason}. ` +
        'Check the address (the base URL option), your network and proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), or download the file yourself and pass its local path as `source`.',
      options,
    );
    this.retryable = options?.retryable ?? false;
  }
}

/** A file's size or checksum did not match the known value; the bad copy was removed and nothing was renamed into place. */
export class IntegrityError extends namedError(DatasetError, 'IntegrityError') {
  constructor(
    readonly file: string,
    readonly check: 'size' | 'checksum',
    readonly expected: string,
    readonly actual: string,
    fix: string,
  ) {
    super(`${check === 'size' ? 'Size' : 'Checksum'} mismatch for ${file}: expected ${expected}, got ${actual}. ${fix}`);
  }
}

/** A zip archive could not be read: truncated, corrupted, or a member's CRC-32 / size is wrong. */
export class CorruptArchiveError extends namedError(DatasetError, 'CorruptArchiveError') {
  constructor(readonly file: string, reason: string, options?: { cause?: unknown }) {
    super(
      `The zip archive ${file} is unreadable (${reason}); it is probably truncated or corrupted. ` +
        'Delete it and download it again (or pass a complete copy as `source`).',
      options,
    );
  }
}

/** A corpus is missing one of its splits (file, folder, or zip member). */
export class MissingSplitError extends namedError(DatasetError, 'MissingSplitError') {
  constructor(readonly location: string, readonly split: string, expected: string, fix: string) {
    super(`Missing ${split} split in ${location}: expected ${expected}. ${fix}`);
  }
}

/** A corpus file, split or folder holds no text. */
export class EmptyCorpusError extends namedError(DatasetError, 'EmptyCorpusError') {
  constructor(readonly file: string, what: string, fix: string) {
    super(`${what} ${file} is empty. ${fix}`);
  }
}

/** Bytes that are not valid UTF-8 were met where characters or words are needed. */
export class InvalidUtf8Error extends namedError(DatasetError, 'InvalidUtf8Error') {
  constructor(readonly file: string, readonly byteOffset: number) {
    super(
      `${file} is not valid UTF-8 (first invalid byte sequence at byte offset ${byteOffset}). ` +
        'Character- and word-level tokenizers need UTF-8 text: re-encode the file as UTF-8, or use the byte-level tokenizer, which accepts any bytes.',
    );
  }
}

/** A tokenizer's vocabulary differs from the one a checkpoint (or saved file) was made with. */
export class VocabularyMismatchError extends namedError(DatasetError, 'VocabularyMismatchError') {
  constructor(source: string, readonly expectedFingerprint: string, readonly actualFingerprint: string, detail?: string) {
    super(
      `Vocabulary mismatch for ${source}: expected tokenizer fingerprint ${expectedFingerprint}, got ${actualFingerprint}` +
        `${detail ? ` (${detail})` : ''}. ` +
        'Load the tokenizer file saved next to that checkpoint (loadTokenizer) instead of building a new vocabulary, or train from scratch with the new one.',
    );
  }
}

/** A saved tokenizer file is not readable JSON in the expected format. */
export class TokenizerFileError extends namedError(DatasetError, 'TokenizerFileError') {
  constructor(readonly file: string, reason: string, options?: { cause?: unknown }) {
    super(
      `Cannot load tokenizer from ${file}: ${reason}. Save it again with saveTokenizer, or rebuild it from the training split.`,
      options,
    );
  }
}


/** A local file or folder given as a corpus source does not exist. */
export class SourceNotFoundError extends namedError(DatasetError, 'SourceNotFoundError') {
  constructor(readonly path: string, what: string) {
    super(`${what} ${path} does not exist. Check the path, or leave \`source\` out to download the corpus into the cache.`);
  }
}
