// Tests of WikiText-103 with zips in the real layout (wikitext-103/wiki.*.tokens, wikitext-103-raw/wiki.*.raw), from 127.0.0.1, a local zip or a folder.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptArchiveError, MissingSplitError } from '../errors.js';
import { makeTemporaryFolder, startTestServer, type TestServer } from '../test-support/server.js';
import { buildTokenizer, encodeSplit } from '../tokenizers/corpus.js';
import { readSplitText } from './split.js';
import { prepareWikiText103 } from './wikitext.js';

const encoder = new TextEncoder();
const tokens = {
  train: ' \n = Valkyria Chronicles III = \n \n Senjō no Valkyria 3 : <unk> Chronicles is a game . \n The game began in 2010 . \n',
  valid: ' \n = Homarus gammarus = \n \n Homarus gammarus is a species of lobster . \n',
  test: ' \n = Robert Boulter = \n \n Robert Boulter is an English actor . \n',
};
const raw = {
  train: ' \n = Valkyria Chronicles III = \n \n Senjō no Valkyria 3 : Unrecorded Chronicles is a game . \n',
  valid: ' \n = Homarus gammarus = \n',
  test: ' \n = Robert Boulter = \n',
};

function zipOf(folderName: string, extension: string, texts: Record<string, string>, skip?: string): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const [split, text] of Object.entries(texts)) {
    if (split === skip) continue;
    files[`${folderName}/wiki.${split}.${extension}`] = encoder.encode(text);
  }
  return zipSync(files);
}

let server: TestServer;
let folder: { path: string; remove: () => Promise<void> };
const tokensZip = zipOf('wikitext-103', 'tokens', tokens);
const rawZip = zipOf('wikitext-103-raw', 'raw', raw);

beforeAll(async () => {
  server = await startTestServer({
    '/wikitext/wikitext-103-v1.zip': tokensZip,
    '/wikitext/wikitext-103-raw-v1.zip': rawZip,
    '/broken/wikitext-103-v1.zip': zipOf('wikitext-103', 'tokens', tokens, 'test'),
    '/truncated/wikitext-103-v1.zip': tokensZip.subarray(0, tokensZip.length - 30),
  });
  folder = await makeTemporaryFolder();
});
afterAll(async () => {
  await server.close();
  await folder.remove();
});

describe('WikiText-103', () => {
  it('downloads the tokenized zip, extracts the three files and builds a word vocabulary from train with <eos> per line', async () => {
    const cacheDirectory = join(folder.path, 'cache-tokens');
    const corpus = await prepareWikiText103({ cacheDirectory, baseUrl: `${server.origin}/wikitext`, progressBar: false });
    expect(corpus.name).toBe('wikitext-103');
    expect(corpus.recommendedTokenizer).toBe('word');
    expect((await readdir(join(cacheDirectory, 'wikitext-103'))).sort()).toEqual(['wiki.test.tokens', 'wiki.train.tokens', 'wiki.valid.tokens', 'wikitext-103-v1.zip']);
    expect(await readSplitText(corpus.splits.valid)).toBe(tokens.valid);

    const tokenizer = await buildTokenizer('word', corpus.splits.train);
    const stream = await encodeSplit(tokenizer, corpus.splits.train);
    const lines = tokens.train.split('\n').slice(0, -1);
    const expectedLength = lines.reduce((total, line) => total + line.split(/\s+/).filter(Boolean).length + 1, 0);
    expect(stream.length).toBe(expectedLength);
    expect([...stream].filter((id) => id === tokenizer.endOfLineId).length).toBe(lines.length);
    // WikiText's own <unk> maps to the unknown id, not to a vocabulary word.
    expect(tokenizer.getVocabulary().filter((word) => word === '<unk>')).toEqual(['<unk>']);
    expect(stream.includes(tokenizer.unknownId)).toBe(true);
    // Valid words outside the training vocabulary become <unk>.
    const valid = await encodeSplit(tokenizer, corpus.splits.valid);
    expect(tokenizer.decode(valid)).toBe('\n= <unk> <unk> =\n\n<unk> <unk> is a <unk> <unk> <unk> .\n');
  });

  it('downloads the raw variant (wikitext-103-raw/wiki.*.raw)', async () => {
    const corpus = await prepareWikiText103({ variant: 'raw', cacheDirectory: join(folder.path, 'cache-raw'), baseUrl: `${server.origin}/wikitext`, progressBar: false });
    expect(corpus.name).toBe('wikitext-103-raw');
    expect(await readSplitText(corpus.splits.train)).toBe(raw.train);
  });

  it('names the missing split when the zip lacks a file, and leaves no partial files', async () => {
    const cacheDirectory = join(folder.path, 'cache-broken');
    const error = await prepareWikiText103({ cacheDirectory, baseUrl: `${server.origin}/broken`, progressBar: false }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MissingSplitError);
    expect((error as Error).message).toContain('wikitext-103/wiki.test.tokens');
    const left = await readdir(join(cacheDirectory, 'wikitext-103'));
    expect(left.filter((name) => name.includes('.partial'))).toEqual([]);
  });

  it('rejects a truncated zip and removes it from the cache', async () => {
    const cacheDirectory = join(folder.path, 'cache-truncated');
    await expect(prepareWikiText103({ cacheDirectory, baseUrl: `${server.origin}/truncated`, progressBar: false })).rejects.toBeInstanceOf(CorruptArchiveError);
    expect(await readdir(join(cacheDirectory, 'wikitext-103'))).toEqual([]);
  });

  it('reads a local unpacked folder, and names a missing split file', async () => {
    const local = join(folder.path, 'local-wikitext', 'wikitext-103');
    await mkdir(local, { recursive: true });
    for (const [split, text] of Object.entries(tokens)) await writeFile(join(local, `wiki.${split}.tokens`), text);
    const corpus = await prepareWikiText103({ source: join(folder.path, 'local-wikitext') });
    expect(await readSplitText(corpus.splits.test)).toBe(tokens.test);

    const partial = join(folder.path, 'partial-wikitext');
    await mkdir(partial, { recursive: true });
    await writeFile(join(partial, 'wiki.train.tokens'), tokens.train);
    await writeFile(join(partial, 'wiki.test.tokens'), tokens.test);
    const error = await prepareWikiText103({ source: partial }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(MissingSplitError);
    expect((error as Error).message).toMatch(/valid split/);
    expect((error as Error).message).toContain('wiki.valid.tokens');
  });

  it('reads a local zip', async () => {
    const zipPath = join(folder.path, 'wikitext-103-raw-v1.zip');
    await writeFile(zipPath, rawZip);
    const corpus = await prepareWikiText103({ variant: 'raw', source: zipPath, cacheDirectory: join(folder.path, 'cache-local-zip') });
    expect(await readSplitText(corpus.splits.valid)).toBe(raw.valid);
  });
});
