// Runs the README usage example as written (imports pointed at the sources, the file written into a temporary folder, console.log captured).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';

const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');

test('the README usage example runs and prints what it says', async () => {
  const block = /## Usage\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  const folder = mkdtempSync(join(tmpdir(), 'engram-core-readme-'));
  try {
    const source = (block as string)
      .replace("from '@engram/core/node'", `from ${JSON.stringify(fileURLToPath(new URL('./node.ts', import.meta.url)))}`)
      .replace("from '@engram/core'", `from ${JSON.stringify(fileURLToPath(new URL('./index.ts', import.meta.url)))}`)
      .replace("'notes.json'", JSON.stringify(join(folder, 'notes.json')))
      .replace(/\bconsole\.log\(/g, 'globalThis.__readmeLog(')
      .replace(/^(random\.next\(\)(?: === first)?);/gm, 'globalThis.__readmeLog($1);');
    const printed: unknown[][] = [];
    (globalThis as { __readmeLog?: (...values: unknown[]) => void }).__readmeLog = (...values) => printed.push(values);
    const file = join(folder, 'example.ts');
    writeFileSync(file, source);
    await import(/* @vite-ignore */ file);
    expect(printed).toEqual([
      ['ShelfError', 'shelve: count must be a number >= 0, got "many". Pass how many items to keep.'],
      [0.007303279126062989],
      [true],
    ]);
    const notes = JSON.parse(readFileSync(join(folder, 'notes.json'), 'utf8')) as { saved: { algorithm: string } };
    expect(notes.saved.algorithm).toBe('xorshift32');
  } finally {
    delete (globalThis as { __readmeLog?: unknown }).__readmeLog;
    rmSync(folder, { recursive: true, force: true });
  }
});
