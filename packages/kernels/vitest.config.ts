import { engramVitest } from '@engram/tooling/vitest';

// Kernel tests register what they test themselves (and check the state before registration).
export default engramVitest({ name: '@engram/kernels', engramKernels: false });
