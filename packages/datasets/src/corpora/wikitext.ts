// WikiText-103 (Merity et al. 2016), raw and tokenized: fetch the zip, extract wiki.{train,valid,test}.{raw,tokens}; each file is one split.
import { join } from 'node:path';
import { EmptyCorpusError, MissingSplitError, SourceNotFoundError } from '../errors.js';
import { resolveCacheDirectory } from '../io/cache.js';
import { regularFileSize, type FileChecksum } from '../io/files.js';
import { looksLikeZip } from '../io/zip.js';
import { assertOptionalSize, extractFromArchive, fetchIntoCache, isDirectory, isUrl, normaliseLocation } from './fetch.js';
import { joinLocation, knownFile } from './registry.js';
import { SPLIT_NAMES, createSplit, type CorpusSplit, type SplitName } from './split.js';
import type { CorpusDownloadOptions, PreparedCorpus } from './types.js';

/** Options of {@link prepareWikiText103}. */
export interface WikiTextOptions extends CorpusDownloadOptions {
  /** `tokens` (default): the tokenized release with `<unk>`; `raw`: the untokenized text. */
  variant?: 'tokens' | 'raw';
  /**
   * A URL or local path of the zip, or a local folder holding `wiki.train.<ext>`,
   * `wiki.valid.<ext>` and `wiki.test.<ext>` (directly or in `wikitext-103[-raw]/`).
   */
  source?: string;
  /** Where the zip lives (default: the Salesforce research S3 bucket); a local folder works too. */
  baseUrl?: string;
  /** Exact zip size to require (default: none known). */
  archiveSize?: number | null;
  /** Digest the zip must have (default: none known). */
  archiveChecksum?: FileChecksum | null;
}

/**
 * WikiText-103: Wikipedia Good and Featured articles, about 103M words of train, with the
 * official train/valid/test files. The `tokens` variant is meant for the word tokenizer
 * (vocabulary from train, `<eos>` per line); `raw` for bytes or characters.
 */
export async function prepareWikiText103(options: WikiTextOptions = {}): Promise<PreparedCorpus> {
  const variant = options.variant ?? 'tokens';
  const table = knownFile(variant === 'raw' ? 'wikitext-103-raw' : 'wikitext-103');
  assertOptionalSize('archiveSize', options.archiveSize);
  const extension = variant === 'raw' ? 'raw' : 'tokens';
  const innerFolder = variant === 'raw' ? 'wikitext-103-raw' : 'wikitext-103';
  const cacheFolder = join(resolveCacheDirectory(options.cacheDirectory), innerFolder);
  const paths = {} as Record<SplitName, string>;
  let origin: string;

  const source = options.source === undefined ? undefined : normaliseLocation(options.source);
  if (source !== undefined && !isUrl(source) && (await isDirectory(source))) {
    origin = source;
    const direct = join(source, `wiki.train.${extension}`);
    const base = (await regularFileSize(direct)) !== null ? source : join(source, innerFolder);
    for (const split of SPLIT_NAMES) {
      const path = join(base, `wiki.${split}.${extension}`);
      if ((await regularFileSize(path)) === null) {
        throw new MissingSplitError(
          source,
          split,
          `a file ${path}`,
          `Unpack ${table.fileName} there (it holds ${innerFolder}/wiki.${split}.${extension}), or pass the zip itself as \`source\`.`,
        );
      }
      paths[split] = path;
    }
  } else {
    const extractions = table.members.map((member) => ({
      member: member.member,
      split: member.split as SplitName,
      destination: join(cacheFolder, member.member.slice(member.member.lastIndexOf('/') + 1)),
      expectedSize: member.sizeBytes,
    }));
    for (const extraction of extractions) paths[extraction.split] = extraction.destination;
    if (source !== undefined && !isUrl(source)) {
      if ((await regularFileSize(source)) === null) throw new SourceNotFoundError(source, 'The WikiText-103 source');
      if (!(await looksLikeZip(source))) {
        throw new MissingSplitError(source, 'train', `a zip archive or a folder holding wiki.train.${extension}`, `Pass ${table.fileName} or the folder it unpacks to.`);
      }
      origin = source;
      await extractFromArchive(source, extractions, false);
    } else {
      origin = source ?? joinLocation(options.baseUrl ?? table.defaultBaseUrl, table.fileName);
      let cached = options.force !== true;
      for (const extraction of extractions) {
        const size = await regularFileSize(extraction.destination);
        if (size === null || size === 0) cached = false;
      }
      if (!cached) {
        const archive = await fetchIntoCache(
          origin,
          join(cacheFolder, table.fileName),
          {
            sizeBytes: options.archiveSize === undefined ? table.sizeBytes : options.archiveSize,
            checksum: options.archiveChecksum === undefined ? table.checksum : options.archiveChecksum,
          },
          options,
          table.fileName,
        );
        await extractFromArchive(archive, extractions, true);
      }
    }
  }

  const splits = {} as Record<SplitName, CorpusSplit>;
  for (const split of SPLIT_NAMES) {
    const path = paths[split];
    const size = (await regularFileSize(path)) ?? 0;
    if (size === 0) throw new EmptyCorpusError(path, `The WikiText-103 ${split} file`, `Extract ${table.fileName} again (or pass a complete copy as \`source\`).`);
    splits[split] = createSplit(split, [{ kind: 'file', path, start: 0, end: size }]);
  }
  return {
    name: table.corpus,
    title: variant === 'raw' ? 'WikiText-103 (raw)' : 'WikiText-103 (tokenized)',
    license: 'CC BY-SA 3.0 (Wikipedia text)',
    origin,
    recommendedTokenizer: variant === 'raw' ? 'byte' : 'word',
    splitRule: `the official files wiki.train.${extension}, wiki.valid.${extension}, wiki.test.${extension}`,
    splits,
    officialWordCounts: null,
  };
}
