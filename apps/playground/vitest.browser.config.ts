// Test project of the playground in headless Chromium: builds the page, serves it and drives it (skips when Chromium is absent).
import { engramVitest } from '@engram/tooling/vitest';

export default engramVitest({ name: '@engram/playground (chromium)', include: ['test/browser.test.ts'], testTimeout: 300_000 });
