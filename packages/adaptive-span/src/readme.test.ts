// Runs the README usage example as written (console.log captured), so the documented example really works.
import { runReadmeExample } from '@engram/model/testing';
import { expect, test } from 'vitest';

test('the README example trains a model with the policy and frees every tensor', async () => {
  const { printed, tensorsLeft } = await runReadmeExample({
    readme: new URL('../README.md', import.meta.url),
    packageName: '@engram/adaptive-span',
    entry: new URL('./index.ts', import.meta.url),
  });
  expect(tensorsLeft).toBe(0);
  expect(printed).toHaveLength(4);
  for (const line of printed) expect(Number.isFinite(line[0])).toBe(true);
});
