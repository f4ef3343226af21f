import { engramVitest } from '@engram/tooling/vitest';

export default engramVitest({ name: '@engram/bench', testTimeout: 180_000 });
