// Tests of PG-19: a local train/validation/test + metadata.csv folder, and a download from a fake bucket (JSON listing with sizes and MD5s) on 127.0.0.1.
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmptyCorpusError, IntegrityError, MissingSplitError } from '../errors.js';
import { makeTemporaryFolder, startTestServer, type TestServer } from '../test-support/server.js';
import { preparePg19 } from './pg19.js';
import { PG19_OFFICIAL_WORD_COUNTS } from './registry.js';
import { countSplitWords, readSplitText } from './split.js';

const books: Record<string, Record<string, string>> = {
  train: { '10': 'The first train book.\nIt has two lines.\n', '9': 'Book nine,  earlier by id.\n', '200': 'A later train book\n' },
  validation: { '30': 'Validation book one.\n' },
  test: { '40': 'Test book\twith a tab.\n', '41': 'Another test book.\n' },
};
const metadata = '9,Book Nine,1850,http://www.gutenberg.org/ebooks/9\n10,"Ten, with a comma",1901,http://www.gutenberg.org/ebooks/10\n40,Forty,1899,http://www.gutenberg.org/ebooks/40\n';

let server: TestServer;
let folder: { path: string; remove: () => Promise<void> };

function listing(split: string, corruptMd5 = false) {
  return JSON.stringify({
    kind: 'storage#objects',
    items: Object.entries(books[split] ?? {}).map(([id, text]) => {
      const bytes = Buffer.from(text, 'utf8');
      const md5 = createHash('md5').update(corruptMd5 ? Buffer.from('other') : bytes).digest('base64');
      return { name: `${split}/${id}.txt`, size: String(bytes.length), md5Hash: md5 };
    }),
  });
}

beforeAll(async () => {
  const routes: Record<string, string | ((request: import('node:http').IncomingMessage, response: import('node:http').ServerResponse) => void)> = {
    '/deepmind-gutenberg/metadata.csv': metadata,
    '/storage/v1/b/deepmind-gutenberg/o': (request, response) => {
      const prefix = new URL(request.url ?? '/', 'http://x').searchParams.get('prefix') ?? '';
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(listing(prefix.replace(/\/$/, '')));
    },
    '/bad-listing/o': (request, response) => {
      const prefix = new URL(request.url ?? '/', 'http://x').searchParams.get('prefix') ?? '';
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(listing(prefix.replace(/\/$/, ''), true));
    },
  };
  for (const [split, entries] of Object.entries(books)) {
    for (const [id, text] of Object.entries(entries)) routes[`/deepmind-gutenberg/${split}/${id}.txt`] = text;
  }
  server = await startTestServer(routes);
  folder = await makeTemporaryFolder();
});
afterAll(async () => {
  await server.close();
  await folder.remove();
});

async function writeLocalCopy(root: string, options: { skip?: string; withMetadata?: boolean } = {}): Promise<void> {
  for (const [split, entries] of Object.entries(books)) {
    if (split === options.skip) continue;
    await mkdir(join(root, split), { recursive: true });
    for (const [id, text] of Object.entries(entries)) await writeFile(join(root, split, `${id}.txt`), text);
  }
  if (options.withMetadata !== false) await writeFile(join(root, 'metadata.csv'), metadata);
}

describe('PG-19', () => {
  it('reads a local copy: books in id order, metadata joined, words counted per split', async () => {
    const root = join(folder.path, 'local');
    await writeLocalCopy(root);
    const corpus = await preparePg19({ source: root });
    expect(corpus.books.filter((book) => book.split === 'train').map((book) => book.id)).toEqual(['9', '10', '200']);
    const ten = corpus.books.find((book) => book.id === '10');
    expect(ten).toMatchObject({ title: 'Ten, with a comma', publicationYear: 1901, url: 'http://www.gutenberg.org/ebooks/10' });
    expect(corpus.books.find((book) => book.id === '200')?.title).toBe('');
    expect(await readSplitText(corpus.splits.valid)).toBe(books.validation?.['30']);
    expect(await countSplitWords(corpus.splits.test)).toBe(5 + 3);
    expect(await countSplitWords(corpus.splits.train)).toBe(9 + 4 + 4);
    expect(corpus.officialWordCounts).toEqual(PG19_OFFICIAL_WORD_COUNTS);
  });

  it('limits books per split', async () => {
    const root = join(folder.path, 'local');
    const corpus = await preparePg19({ source: root, maxBooks: { train: 2 } });
    expect(corpus.books.filter((book) => book.split === 'train').map((book) => book.id)).toEqual(['9', '10']);
    expect(corpus.officialWordCounts).toBeNull();
  });

  it('names a missing split folder and a missing metadata.csv', async () => {
    const noTest = join(folder.path, 'no-test');
    await writeLocalCopy(noTest, { skip: 'test' });
    const error = await preparePg19({ source: noTest }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MissingSplitError);
    expect((error as Error).message).toContain(join(noTest, 'test'));

    const noMetadata = join(folder.path, 'no-metadata');
    await writeLocalCopy(noMetadata, { withMetadata: false });
    await expect(preparePg19({ source: noMetadata })).rejects.toThrow(/metadata\.csv/);

    const emptySplit = join(folder.path, 'empty-split');
    await writeLocalCopy(emptySplit, { skip: 'validation' });
    await mkdir(join(emptySplit, 'validation'));
    await expect(preparePg19({ source: emptySplit })).rejects.toBeInstanceOf(EmptyCorpusError);
  });

  it('downloads metadata and books from the bucket, checking sizes and MD5s, and works offline afterwards', async () => {
    const cacheDirectory = join(folder.path, 'cache');
    const options = {
      cacheDirectory,
      baseUrl: `${server.origin}/deepmind-gutenberg`,
      listingUrl: `${server.origin}/storage/v1/b/deepmind-gutenberg/o`,
      progressBar: false as const,
    };
    const corpus = await preparePg19(options);
    expect((await readdir(join(cacheDirectory, 'pg19', 'train'))).sort()).toEqual(['10.txt', '200.txt', '9.txt']);
    expect(await readSplitText(corpus.splits.test)).toBe(`${books.test?.['40']}${books.test?.['41']}`);
    expect(corpus.books.find((book) => book.id === '40')?.title).toBe('Forty');
    const listingRequests = server.requests.filter((url) => url.startsWith('/storage/')).length;
    expect(server.requests.some((url) => url.includes('prefix=validation%2F'))).toBe(true);

    // The listing is cached and books are verified on disk: no further requests.
    const before = server.requests.length;
    await preparePg19({ ...options, listingUrl: 'http://127.0.0.1:9/unreachable' });
    expect(server.requests.length).toBe(before);
    expect(listingRequests).toBe(3);
  });

  it('rejects a book whose MD5 differs from the listing and keeps no partial file', async () => {
    const cacheDirectory = join(folder.path, 'cache-bad');
    const error = await preparePg19({
      cacheDirectory,
      baseUrl: `${server.origin}/deepmind-gutenberg`,
      listingUrl: `${server.origin}/bad-listing/o`,
      progressBar: false,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).check).toBe('checksum');
    const train = await readdir(join(cacheDirectory, 'pg19', 'train')).catch(() => [] as string[]);
    expect(train).toEqual([]);
  });
});
