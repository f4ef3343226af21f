// Runs the README usage example as written (console.log captured), so the documented example really works.
import { runReadmeExample } from '@engram/tooling/readme-example';
import { expect, test } from 'vitest';

test('the README example trains a model with the policy and frees every tensor', async () => {
  const run = await runReadmeExample({ readme: new URL('../README.md', import.meta.url), packageName: '@engram/expire-span', entry: new URL('./index.ts', import.meta.url) });
  expect(run.tensorsLeft).toBe(0);
  // Four steps, each printing a finite task loss first.
  expect(run.printed.map((line) => Number.isFinite(line[0]))).toEqual([true, true, true, true]);
});
