// Test project of the playground in Node: the libraries' browser-bundle check.
import { engramVitest } from '@engram/tooling/vitest';

export default engramVitest({ name: '@engram/playground', include: ['test/libraries-bundle.test.ts'] });
