// Explicit entry point that registers the kernels wasm lacks.
export {};
