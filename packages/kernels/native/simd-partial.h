// Partial SIMD loads and stores of 0..4 floats for wasm32, shared by the kernels in native/ (never touch memory past n).
#ifndef ENGRAM_SIMD_PARTIAL_H
#define ENGRAM_SIMD_PARTIAL_H
#include <wasm_simd128.h>

#define INLINE static inline __attribute__((always_inline))

/** Loads the first n (0..4) floats at p, zeros elsewhere; never reads past p + n. */
INLINE v128_t load_partial(const float *p, int n) {
  switch (n) {
    case 0: return wasm_f32x4_splat(0.0f);
    case 1: return wasm_v128_load32_zero(p);
    case 2: return wasm_v128_load64_zero(p);
    case 3: return wasm_v128_load32_lane(p + 2, wasm_v128_load64_zero(p), 2);
    default: return wasm_v128_load(p);
  }
}

/** Stores the first n (0..4) lanes of v at p; never writes past p + n. */
INLINE void store_partial(float *p, v128_t v, int n) {
  switch (n) {
    case 0: break;
    case 1: wasm_v128_store32_lane(p, v, 0); break;
    case 2: wasm_v128_store64_lane(p, v, 0); break;
    case 3: wasm_v128_store64_lane(p, v, 0); wasm_v128_store32_lane(p + 2, v, 2); break;
    default: wasm_v128_store(p, v); break;
  }
}

#endif
