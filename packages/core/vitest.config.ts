import { engramVitest } from '@engram/tooling/vitest';

export default engramVitest({ name: '@engram/core', engramKernels: false });
