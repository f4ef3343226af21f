import { engramVitest } from '@engram/tooling/vitest';

export default engramVitest({ name: '@engram/cli', testTimeout: 120_000 });
