// The kernel tests run a second time on the pure-JS cpu backend (the wasm fallback).
import { engramVitest } from '@engram/tooling/vitest';

export default engramVitest({ name: '@engram/kernels', backend: 'cpu' });
