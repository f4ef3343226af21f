// Tests of zip extraction: members extracted intact, truncated archives and CRC-32 damage rejected, missing members named, no partial files left.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CorruptArchiveError, IntegrityError, MissingSplitError } from '../errors.js';
import { fakeText, makeTemporaryFolder } from '../test-support/server.js';
import { extractZipMembers, listZipMembers, looksLikeZip } from './zip.js';

let folder: { path: string; remove: () => Promise<void> };
const alpha = fakeText(30_000, 3);
const beta = fakeText(12_345, 4);

beforeAll(async () => {
  folder = await makeTemporaryFolder();
});
afterAll(async () => {
  await folder.remove();
});

async function writeZip(name: string, files: Record<string, Uint8Array>, level: 0 | 6 = 6): Promise<string> {
  const path = join(folder.path, name);
  await writeFile(path, zipSync(files, { level }));
  return path;
}

describe('zip extraction', () => {
  it('lists and extracts members byte for byte', async () => {
    const archive = await writeZip('good.zip', { 'dir/alpha.txt': alpha, beta });
    expect(await looksLikeZip(archive)).toBe(true);
    const members = await listZipMembers(archive);
    expect(members.map((member) => [member.name, member.uncompressedSize])).toEqual([
      ['dir/alpha.txt', alpha.length],
      ['beta', beta.length],
    ]);
    const output = join(folder.path, 'out-good');
    await extractZipMembers(archive, [
      { member: 'dir/alpha.txt', destination: join(output, 'alpha.txt'), expectedSize: alpha.length },
      { member: 'beta', destination: join(output, 'beta') },
    ]);
    expect(Buffer.compare(await readFile(join(output, 'alpha.txt')), Buffer.from(alpha))).toBe(0);
    expect(Buffer.compare(await readFile(join(output, 'beta')), Buffer.from(beta))).toBe(0);
  });

  it('rejects a truncated archive with CorruptArchiveError naming it', async () => {
    const whole = zipSync({ alpha }, { level: 6 });
    const path = join(folder.path, 'truncated.zip');
    await writeFile(path, whole.subarray(0, Math.floor(whole.length / 2)));
    const output = join(folder.path, 'out-truncated');
    const error = await extractZipMembers(path, [{ member: 'alpha', destination: join(output, 'alpha') }]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CorruptArchiveError);
    expect((error as Error).message).toContain(path);
    await expect(readdir(output)).rejects.toThrow();
  });

  it('rejects a member whose bytes fail the CRC-32 and leaves no file', async () => {
    const stored = zipSync({ alpha }, { level: 0 });
    // Flip one byte of the stored (uncompressed) data: the structure stays valid, the CRC does not.
    const damaged = new Uint8Array(stored);
    const dataStart = 30 + 'alpha'.length;
    damaged[dataStart + 100] = (damaged[dataStart + 100] as number) ^ 0xff;
    const path = join(folder.path, 'crc.zip');
    await writeFile(path, damaged);
    const output = join(folder.path, 'out-crc');
    await expect(extractZipMembers(path, [{ member: 'alpha', destination: join(output, 'alpha') }])).rejects.toThrow(/CRC-32/);
    expect(await readdir(output)).toEqual([]);
  });

  it('names a missing member', async () => {
    const archive = await writeZip('missing.zip', { alpha });
    const error = await extractZipMembers(archive, [{ member: 'wiki.test.tokens', split: 'test', destination: join(folder.path, 'out-missing', 'x') }]).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(MissingSplitError);
    expect((error as Error).message).toContain('wiki.test.tokens');
    expect((error as Error).message).toContain(archive);
  });

  it('rejects a member of the wrong size and leaves no file', async () => {
    const archive = await writeZip('size.zip', { alpha });
    const output = join(folder.path, 'out-size');
    await expect(extractZipMembers(archive, [{ member: 'alpha', destination: join(output, 'alpha'), expectedSize: 99 }])).rejects.toBeInstanceOf(IntegrityError);
    expect(await readdir(output)).toEqual([]);
  });

  it('does not take plain text for a zip', async () => {
    const path = join(folder.path, 'plain.txt');
    await writeFile(path, 'PK is not enough');
    expect(await looksLikeZip(path)).toBe(false);
  });
});
