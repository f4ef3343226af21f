// @engram/kernels: backend selection, missing wasm kernels and fused tensor ops.
export const KERNELS_PLACEHOLDER = 1;
