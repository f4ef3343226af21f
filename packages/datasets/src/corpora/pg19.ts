// PG-19 (Rae et al. 2019): Project Gutenberg books before 1919 in train/validation/test folders plus metadata.csv, from a local copy or the public bucket (each book checked against the listing's size and MD5).
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { DownloadError, EmptyCorpusError, InvalidArgumentError, MissingSplitError, SourceNotFoundError } from '../errors.js';
import { resolveCacheDirectory } from '../io/cache.js';
import { writeFileAtomic } from '@engram/core/node';
import { regularFileSize } from '../io/files.js';
import { fetchIntoCache, isDirectory, normaliseLocation } from './fetch.js';
import { PG19_BASE_URL, PG19_LISTING_URL, PG19_OFFICIAL_WORD_COUNTS, joinLocation } from './registry.js';
import { SPLIT_NAMES, createSplit, type CorpusSplit, type SplitName } from './split.js';
import type { CorpusDownloadOptions, PreparedCorpus } from './types.js';

/** Folder name of each split in PG-19. */
export const PG19_SPLIT_FOLDERS: Readonly<Record<SplitName, string>> = { train: 'train', valid: 'validation', test: 'test' };

/** One book of PG-19. */
export interface Pg19Book {
  id: string;
  split: SplitName;
  path: string;
  sizeBytes: number;
  /** From metadata.csv (empty when the book is not listed there). */
  title: string;
  publicationYear: number | null;
  url: string;
}

/** A prepared PG-19 corpus: the splits are the books in id order, one part per book. */
export interface Pg19Corpus extends PreparedCorpus {
  books: Pg19Book[];
}

/** Options of {@link preparePg19}. */
export interface Pg19Options extends CorpusDownloadOptions {
  /** A local folder with `train/`, `validation/`, `test/` (books as `<id>.txt`) and `metadata.csv`. Without it the books are downloaded. */
  source?: string;
  /** Public root of the bucket (default `https://storage.googleapis.com/deepmind-gutenberg`); objects are `${baseUrl}/<split>/<id>.txt`. */
  baseUrl?: string;
  /** The bucket's JSON listing endpoint (default the Google Cloud Storage JSON API for `deepmind-gutenberg`). */
  listingUrl?: string;
  /** Take at most this many books of a split (smallest ids first), e.g. `{ train: 20 }` for a CPU-sized run. Default: all. */
  maxBooks?: Partial<Record<SplitName, number>>;
  /** Books downloaded at the same time (default 4). */
  concurrency?: number;
}

interface ListedObject {
  name: string;
  size: number;
  md5Hex: string | null;
}

/**
 * PG-19. With `source`, reads a local copy; otherwise downloads metadata.csv, lists each
 * split's folder in the bucket (the listing is cached as JSON so later runs work offline),
 * and downloads the books (size and MD5 from the listing are checked) into
 * `<cache>/pg19/<split>/<id>.txt`. Word-level perplexity in PG-19 divides the total NLL by
 * the words of the split: {@link PG19_OFFICIAL_WORD_COUNTS} for the full splits, or
 * `countSplitWords(split)` for a subset.
 */
export async function preparePg19(options: Pg19Options = {}): Promise<Pg19Corpus> {
  const maxBooks = options.maxBooks ?? {};
  for (const [split, limit] of Object.entries(maxBooks)) {
    if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) throw new InvalidArgumentError(`maxBooks.${split}`, 'a positive integer', limit);
  }
  let root: string;
  let origin: string;
  if (options.source !== undefined) {
    root = normaliseLocation(options.source);
    origin = root;
    if (!(await isDirectory(root))) throw new SourceNotFoundError(root, 'The PG-19 folder');
  } else {
    root = join(resolveCacheDirectory(options.cacheDirectory), 'pg19');
    origin = options.baseUrl ?? PG19_BASE_URL;
    await downloadPg19(root, options);
  }

  const metadataPath = join(root, 'metadata.csv');
  const metadata = await readMetadata(metadataPath);
  const books: Pg19Book[] = [];
  const splits = {} as Record<SplitName, CorpusSplit>;
  for (const split of SPLIT_NAMES) {
    const folder = join(root, PG19_SPLIT_FOLDERS[split]);
    if (!(await isDirectory(folder))) {
      throw new MissingSplitError(root, split, `a folder ${folder} of <id>.txt books`, 'Copy the whole PG-19 layout (train/, validation/, test/, metadata.csv), or leave `source` out to download it.');
    }
    const ids = (await readdir(folder)).filter((name) => name.endsWith('.txt') && !name.startsWith('.')).map((name) => name.slice(0, -4));
    ids.sort(compareIds);
    const chosen = ids.slice(0, maxBooks[split] ?? ids.length);
    if (chosen.length === 0) throw new EmptyCorpusError(folder, `The PG-19 ${split} folder`, 'It holds no <id>.txt books; copy them there or download the corpus.');
    const splitBooks: Pg19Book[] = [];
    for (const id of chosen) {
      const path = join(folder, `${id}.txt`);
      const sizeBytes = (await regularFileSize(path)) ?? 0;
      const row = metadata.get(id);
      splitBooks.push({ id, split, path, sizeBytes, title: row?.title ?? '', publicationYear: row?.year ?? null, url: row?.url ?? '' });
    }
    books.push(...splitBooks);
    splits[split] = createSplit(
      split,
      splitBooks.map((book) => ({ kind: 'file' as const, path: book.path, start: 0, end: book.sizeBytes })),
    );
  }
  const limited = Object.keys(maxBooks).length > 0;
  return {
    name: 'pg19',
    title: 'PG-19 (Project Gutenberg books published before 1919)',
    license: 'Apache-2.0 (dataset); the book texts are in the public domain',
    origin,
    recommendedTokenizer: 'byte',
    splitRule: `the official train/validation/test folders, books in id order${limited ? ` (limited: ${JSON.stringify(maxBooks)})` : ''}; each book is a separate document`,
    splits,
    officialWordCounts: limited ? null : PG19_OFFICIAL_WORD_COUNTS,
    books,
  };
}

function compareIds(left: string, right: string): number {
  const leftNumber = Number(left);
  const rightNumber = Number(right);
  if (Number.isFinite(leftNumber) && Number.isFinite(rightNumber) && leftNumber !== rightNumber) return leftNumber - rightNumber;
  return left < right ? -1 : left > right ? 1 : 0;
}

interface MetadataRow {
  title: string;
  year: number | null;
  url: string;
}

/** Reads metadata.csv: rows `id,short_book_title,publication_date,url` (no header in the official file; a header row is skipped). */
export async function readMetadata(path: string): Promise<Map<string, MetadataRow>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new MissingSplitError(path, 'metadata', 'the file metadata.csv (id, title, publication year, url per line)', 'Copy metadata.csv from the PG-19 bucket next to the split folders.');
  }
  if (text.trim() === '') throw new EmptyCorpusError(path, 'The PG-19 metadata file', 'Copy the real metadata.csv from the PG-19 bucket.');
  let records: string[][];
  try {
    records = parse(text, { relax_column_count: true, skip_empty_lines: true }) as string[][];
  } catch (error) {
    throw new EmptyCorpusError(path, `The PG-19 metadata file (unreadable CSV: ${error instanceof Error ? error.message : String(error)})`, 'Copy the real metadata.csv from the PG-19 bucket.');
  }
  const rows = new Map<string, MetadataRow>();
  for (const record of records) {
    const [id, title, year, url] = record;
    if (id === undefined || !/^\d+$/.test(id.trim())) continue; // header or junk line
    const parsedYear = year === undefined ? Number.NaN : Number.parseInt(year, 10);
    rows.set(id.trim(), { title: title ?? '', year: Number.isFinite(parsedYear) ? parsedYear : null, url: url ?? '' });
  }
  return rows;
}

async function downloadPg19(root: string, options: Pg19Options): Promise<void> {
  const baseUrl = options.baseUrl ?? PG19_BASE_URL;
  const listingUrl = options.listingUrl ?? PG19_LISTING_URL;
  await fetchIntoCache(joinLocation(baseUrl, 'metadata.csv'), join(root, 'metadata.csv'), { sizeBytes: null, checksum: null }, options, 'PG-19 metadata.csv');
  for (const split of SPLIT_NAMES) {
    const folderName = PG19_SPLIT_FOLDERS[split];
    const listing = await listSplit(root, listingUrl, folderName, options.force === true);
    const chosen = listing.sort((left, right) => compareIds(bookId(left.name), bookId(right.name))).slice(0, options.maxBooks?.[split] ?? listing.length);
    const concurrency = options.concurrency ?? 4;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new InvalidArgumentError('concurrency', 'a positive integer', concurrency);
    let next = 0;
    let failure: { error: unknown } | null = null;
    const worker = async () => {
      while (failure === null && next < chosen.length) {
        const object = chosen[next++] as ListedObject;
        await fetchIntoCache(
          joinLocation(baseUrl, object.name),
          join(root, folderName, `${bookId(object.name)}.txt`),
          { sizeBytes: object.size, checksum: object.md5Hex === null ? null : { algorithm: 'md5', hex: object.md5Hex } },
          { ...options, progressBar: false },
          object.name,
        ).catch((error: unknown) => {
          failure ??= { error };
        });
      }
    };
    // Every worker stops after the first failure; wait for all of them so no download is still writing.
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(1, chosen.length)) }, worker));
    if (failure !== null) throw (failure as { error: unknown }).error;
  }
}

function bookId(objectName: string): string {
  const base = objectName.slice(objectName.lastIndexOf('/') + 1);
  return base.endsWith('.txt') ? base.slice(0, -4) : base;
}

/** The `.txt` objects under `<folder>/`, from the cached listing or the listing endpoint (all pages). */
async function listSplit(root: string, listingUrl: string, folder: string, force: boolean): Promise<ListedObject[]> {
  const cachePath = join(root, `listing-${folder}.json`);
  if (!force) {
    try {
      const cached = JSON.parse(await readFile(cachePath, 'utf8')) as ListedObject[];
      if (Array.isArray(cached) && cached.length > 0) return cached;
    } catch {
      // no usable cached listing: fetch it
    }
  }
  const objects: ListedObject[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < 1000; page += 1) {
    const url = new URL(listingUrl);
    url.searchParams.set('prefix', `${folder}/`);
    url.searchParams.set('maxResults', '1000');
    if (pageToken !== undefined) url.searchParams.set('pageToken', pageToken);
    const body = await fetchJson(url.toString());
    const items = Array.isArray(body.items) ? body.items : [];
    for (const item of items) {
      if (typeof item !== 'object' || item === null) continue;
      const { name, size, md5Hash } = item as { name?: unknown; size?: unknown; md5Hash?: unknown };
      if (typeof name !== 'string' || !name.endsWith('.txt')) continue;
      const bytes = typeof size === 'string' || typeof size === 'number' ? Number(size) : Number.NaN;
      if (!Number.isSafeInteger(bytes) || bytes < 0) continue;
      objects.push({ name, size: bytes, md5Hex: typeof md5Hash === 'string' ? Buffer.from(md5Hash, 'base64').toString('hex') : null });
    }
    pageToken = typeof body.nextPageToken === 'string' ? body.nextPageToken : undefined;
    if (pageToken === undefined) break;
  }
  if (objects.length === 0) {
    throw new MissingSplitError(listingUrl, folder, `objects named ${folder}/<id>.txt in the bucket listing`, 'Check `listingUrl` and `baseUrl`, or pass a local copy as `source`.');
  }
  await mkdir(root, { recursive: true });
  await writeFileAtomic(cachePath, JSON.stringify(objects));
  return objects;
}

async function fetchJson(url: string): Promise<{ items?: unknown; nextPageToken?: unknown }> {
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: 'application/json' } });
  } catch (error) {
    throw new DownloadError(url, '(bucket listing)', error instanceof Error ? error.message : String(error), { cause: error });
  }
  if (!response.ok) throw new DownloadError(url, '(bucket listing)', `the server answered HTTP ${response.status}`);
  try {
    return (await response.json()) as { items?: unknown; nextPageToken?: unknown };
  } catch (error) {
    throw new DownloadError(url, '(bucket listing)', 'the answer is not JSON', { cause: error });
  }
}
