// SIMD math for wasm32 shared by the kernels in native/: lane splats, horizontal sum and maximum, exp for x <= 0, lanes left in a row.
#ifndef ENGRAM_SIMD_MATH_H
#define ENGRAM_SIMD_MATH_H
#include "simd-partial.h"

#define HIDDEN_FLOOR -87.0f

INLINE v128_t splat(float value) { return wasm_f32x4_splat(value); }

INLINE float horizontal_sum(v128_t v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) + (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

INLINE float horizontal_max(v128_t v) {
  const float a = wasm_f32x4_extract_lane(v, 0) > wasm_f32x4_extract_lane(v, 1) ? wasm_f32x4_extract_lane(v, 0) : wasm_f32x4_extract_lane(v, 1);
  const float b = wasm_f32x4_extract_lane(v, 2) > wasm_f32x4_extract_lane(v, 3) ? wasm_f32x4_extract_lane(v, 2) : wasm_f32x4_extract_lane(v, 3);
  return a > b ? a : b;
}

/**
 * exp(x) per lane in float32 for x <= 0 (softmax inputs after the row maximum is subtracted): Cody-Waite reduction
 * x = n ln2 + r with |r| <= ln2 / 2 and a degree-7 polynomial for exp(r) (relative error about 1e-7, one float32
 * rounding); 0 below -87 (exp is below 1.7e-38 there, under every normal float32 sum it joins).
 */
INLINE v128_t exp_nonpositive(v128_t x) {
  const v128_t flushed = wasm_f32x4_lt(x, splat(HIDDEN_FLOOR));
  x = wasm_f32x4_pmax(x, splat(HIDDEN_FLOOR));
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, splat(1.44269504088896341f)));
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, splat(0.693359375f)));
  r = wasm_f32x4_add(r, wasm_f32x4_mul(n, splat(2.12194440e-4f)));
  v128_t p = splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), splat(5.0000001201e-1f));
  p = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_mul(p, r), r), r), splat(1.0f));
  const v128_t scale = wasm_i32x4_shl(wasm_i32x4_add(wasm_i32x4_trunc_sat_f32x4(n), wasm_i32x4_splat(127)), 23);
  return wasm_v128_andnot(wasm_f32x4_mul(p, scale), flushed);
}

INLINE int lanes_left(int keys, int j) { return keys - j < 4 ? keys - j : 4; }

#endif
