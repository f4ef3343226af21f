// enwik8 and text8 (Matt Mahoney's 100,000,000-byte Wikipedia files): fetch the zip, unpack its single member, and split it 90M/5M/5M by bytes.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EmptyCorpusError, IntegrityError, InvalidArgumentError, SourceNotFoundError } from '../errors.js';
import { resolveCacheDirectory } from '../io/cache.js';
import { formatBytes, regularFileSize, type FileChecksum } from '../io/files.js';
import { looksLikeZip } from '../io/zip.js';
import { assertOptionalSize, extractFromArchive, fetchIntoCache, isUrl, normaliseLocation } from './fetch.js';
import { HUTTER_SPLIT_FRACTIONS, joinLocation, knownFile } from './registry.js';
import { createSplit } from './split.js';
import type { CorpusDownloadOptions, PreparedCorpus } from './types.js';

/** Options of {@link prepareEnwik8} and {@link prepareText8}. */
export interface HutterCorpusOptions extends CorpusDownloadOptions {
  /** A URL or local path of the zip, or a local path of the unpacked file. Default: `${baseUrl}/<name>.zip`. */
  source?: string;
  /** Where `<name>.zip` lives (default `http://mattmahoney.net/dc`); a local folder works too. */
  baseUrl?: string;
  /** Exact zip size to require (default: the known size; null: do not check). */
  archiveSize?: number | null;
  /** Digest the zip must have (default: none known). */
  archiveChecksum?: FileChecksum | null;
  /** Exact unpacked size to require (default 100,000,000; null: do not check). */
  unpackedSize?: number | null;
  /**
   * Bytes of train, valid and test, in file order; must add up to the file size. Default:
   * floor(0.9 n), floor(0.05 n) and the rest, which is 90,000,000 / 5,000,000 / 5,000,000
   * for the real 100,000,000-byte files.
   */
  splitSizes?: readonly [number, number, number];
}

/** The default split sizes of an n-byte file: floor(0.9 n), floor(0.05 n), the rest. */
export function hutterSplitSizes(totalBytes: number): [number, number, number] {
  const train = Math.floor(totalBytes * HUTTER_SPLIT_FRACTIONS[0]);
  const valid = Math.floor(totalBytes * HUTTER_SPLIT_FRACTIONS[1]);
  return [train, valid, totalBytes - train - valid];
}

/** enwik8: the first 100,000,000 bytes of an English Wikipedia XML dump (byte level). */
export function prepareEnwik8(options: HutterCorpusOptions = {}): Promise<PreparedCorpus> {
  return prepareHutterCorpus('enwik8', options);
}

/** text8: the same Wikipedia text cleaned to 27 characters (a-z and space), 100,000,000 characters. */
export function prepareText8(options: HutterCorpusOptions = {}): Promise<PreparedCorpus> {
  return prepareHutterCorpus('text8', options);
}

async function prepareHutterCorpus(name: 'enwik8' | 'text8', options: HutterCorpusOptions): Promise<PreparedCorpus> {
  const table = knownFile(name);
  const member = table.members[0];
  if (member === undefined) throw new RangeError(`Corpus table lists no member for ${name}`);
  assertOptionalSize('archiveSize', options.archiveSize);
  assertOptionalSize('unpackedSize', options.unpackedSize);
  const archiveSize = options.archiveSize === undefined ? table.sizeBytes : options.archiveSize;
  const archiveChecksum = options.archiveChecksum === undefined ? table.checksum : options.archiveChecksum;
  const unpackedSize = options.unpackedSize === undefined ? member.sizeBytes : options.unpackedSize;
  const folder = join(resolveCacheDirectory(options.cacheDirectory), name);
  const unpackedPath = join(folder, name);
  const cachedArchive = join(folder, table.fileName);

  let dataPath: string;
  let origin: string;
  const source = options.source === undefined ? undefined : normaliseLocation(options.source);
  if (source !== undefined && !isUrl(source) && !(await looksLikeZipSafe(source))) {
    // A local, already unpacked file: use it where it is.
    dataPath = source;
    origin = source;
  } else if (source !== undefined && !isUrl(source)) {
    await extractFromArchive(source, [{ member: member.member, destination: unpackedPath, expectedSize: unpackedSize }], false);
    dataPath = unpackedPath;
    origin = source;
  } else {
    origin = source ?? joinLocation(options.baseUrl ?? table.defaultBaseUrl, table.fileName);
    const cachedSize = await regularFileSize(unpackedPath);
    const cachedIsGood = cachedSize !== null && cachedSize > 0 && (unpackedSize === null || cachedSize === unpackedSize);
    if (!cachedIsGood || options.force === true) {
      const archive = await fetchIntoCache(origin, cachedArchive, { sizeBytes: archiveSize, checksum: archiveChecksum }, options, table.fileName);
      await extractFromArchive(archive, [{ member: member.member, destination: unpackedPath, expectedSize: unpackedSize }], true);
    }
    dataPath = unpackedPath;
  }

  const size = (await stat(dataPath)).size;
  if (size === 0) throw new EmptyCorpusError(dataPath, `The ${name} file`, `Pass the complete ${name} (or its zip) as \`source\`.`);
  if (unpackedSize !== null && size !== unpackedSize) {
    throw new IntegrityError(dataPath, 'size', formatBytes(unpackedSize), formatBytes(size), `This is not the ${name} file; pass the real one, or set \`unpackedSize: null\` to accept another size.`);
  }
  const [trainBytes, validBytes, testBytes] = options.splitSizes ?? hutterSplitSizes(size);
  for (const [label, value] of [['train', trainBytes], ['valid', validBytes], ['test', testBytes]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError(`splitSizes (${label})`, 'a positive integer', value);
  }
  if (trainBytes + validBytes + testBytes !== size) {
    throw new InvalidArgumentError(
      'splitSizes',
      `three sizes adding up to the file size ${size}`,
      [trainBytes, validBytes, testBytes],
      'Leave splitSizes out to use the standard 90% / 5% / 5% split.',
    );
  }
  return {
    name,
    title: name === 'enwik8' ? 'enwik8 (first 10^8 bytes of English Wikipedia XML)' : 'text8 (enwik8 cleaned to a-z and space)',
    license: 'Wikipedia text: CC BY-SA (see http://mattmahoney.net/dc/textdata.html)',
    origin,
    recommendedTokenizer: name === 'enwik8' ? 'byte' : 'character',
    splitRule: `bytes [0, ${trainBytes}) train, [${trainBytes}, ${trainBytes + validBytes}) valid, [${trainBytes + validBytes}, ${size}) test`,
    splits: {
      train: createSplit('train', [{ kind: 'file', path: dataPath, start: 0, end: trainBytes }]),
      valid: createSplit('valid', [{ kind: 'file', path: dataPath, start: trainBytes, end: trainBytes + validBytes }]),
      test: createSplit('test', [{ kind: 'file', path: dataPath, start: trainBytes + validBytes, end: size }]),
    },
    officialWordCounts: null,
  };
}

async function looksLikeZipSafe(path: string): Promise<boolean> {
  const size = await regularFileSize(path);
  if (size === null) {
    throw new SourceNotFoundError(path, 'The source file');
  }
  if (size === 0) return false;
  return looksLikeZip(path);
}
