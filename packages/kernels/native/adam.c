// Fused gradient-scale (global-norm clip) + Adam update of one float32 variable, and the sum of squares the clip's global norm needs, for wasm32 SIMD on the tfjs wasm heap.
//
// Built by scripts/build-wasm.mjs (the same flags and heap rules as native/gemm.c: no data segment, no statics, no
// shadow stack). Per element, in float32 and in the order tf.AdamOptimizer (tfjs 4.22) rounds them:
//   g  = grad * scale
//   m' = m * beta1 + g * (1 - beta1)
//   v' = v * beta2 + (g * g) * (1 - beta2)
//   p' = ((m' / (1 - acc1)) / (sqrt(v' / (1 - acc2)) + epsilon)) * (-lr) + p
// where acc1 = beta1^t and acc2 = beta2^t are read from one-float tensors on the heap (no host read). Wasm has no
// fused multiply-add in plain SIMD128, so every product and sum is rounded on its own, as the unfused ops are.
#include <wasm_simd128.h>

#include "simd-partial.h"

/**
 * Writes the updated param, m and v of n floats to out_param, out_m, out_v (which may alias the inputs).
 * one_minus_beta1 and one_minus_beta2 are the float32 roundings of 1 - beta (computed in double by the caller,
 * as tfjs does); acc1 and acc2 point at beta1^t and beta2^t.
 */
__attribute__((export_name("adam_f32"))) void adam_f32(int n, const float *param, const float *grad, const float *m, const float *v, float *out_param,
              float *out_m, float *out_v, const float *acc1, const float *acc2, float scale, float learning_rate,
              float beta1, float one_minus_beta1, float beta2, float one_minus_beta2, float epsilon) {
  const v128_t vscale = wasm_f32x4_splat(scale);
  const v128_t vbeta1 = wasm_f32x4_splat(beta1);
  const v128_t vbeta2 = wasm_f32x4_splat(beta2);
  const v128_t vone_minus_beta1 = wasm_f32x4_splat(one_minus_beta1);
  const v128_t vone_minus_beta2 = wasm_f32x4_splat(one_minus_beta2);
  const v128_t vcorrection1 = wasm_f32x4_splat(1.0f - *acc1);
  const v128_t vcorrection2 = wasm_f32x4_splat(1.0f - *acc2);
  const v128_t vepsilon = wasm_f32x4_splat(epsilon);
  const v128_t vstep = wasm_f32x4_splat(-learning_rate);
  for (int i = 0; i < n; i += 4) {
    const int lanes = n - i < 4 ? n - i : 4;
    const v128_t g = wasm_f32x4_mul(load_partial(grad + i, lanes), vscale);
    const v128_t m1 = wasm_f32x4_add(wasm_f32x4_mul(load_partial(m + i, lanes), vbeta1), wasm_f32x4_mul(g, vone_minus_beta1));
    const v128_t v1 =
        wasm_f32x4_add(wasm_f32x4_mul(load_partial(v + i, lanes), vbeta2), wasm_f32x4_mul(wasm_f32x4_mul(g, g), vone_minus_beta2));
    const v128_t m_hat = wasm_f32x4_div(m1, vcorrection1);
    const v128_t v_hat = wasm_f32x4_div(v1, vcorrection2);
    const v128_t update = wasm_f32x4_mul(wasm_f32x4_div(m_hat, wasm_f32x4_add(wasm_f32x4_sqrt(v_hat), vepsilon)), vstep);
    const v128_t p1 = wasm_f32x4_add(update, load_partial(param + i, lanes));
    store_partial(out_m + i, m1, lanes);
    store_partial(out_v + i, v1, lanes);
    store_partial(out_param + i, p1, lanes);
  }
}

/**
 * Sum of x[i]^2 over n floats, accumulated in double (each square rounded to double exactly, four running sums
 * added at the end), for the global gradient norm of the clip: one call per gradient tensor, no tfjs dispatch.
 */
__attribute__((export_name("sum_of_squares_f32"))) double sum_of_squares_f32(int n, const float *x) {
  v128_t low = wasm_f64x2_splat(0.0);
  v128_t high = wasm_f64x2_splat(0.0);
  for (int i = 0; i < n; i += 4) {
    const v128_t values = load_partial(x + i, n - i < 4 ? n - i : 4);
    const v128_t squares_low = wasm_f64x2_promote_low_f32x4(values);
    const v128_t squares_high = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(values, values, 2, 3, 0, 1));
    low = wasm_f64x2_add(low, wasm_f64x2_mul(squares_low, squares_low));
    high = wasm_f64x2_add(high, wasm_f64x2_mul(squares_high, squares_high));
  }
  return (wasm_f64x2_extract_lane(low, 0) + wasm_f64x2_extract_lane(high, 0)) + (wasm_f64x2_extract_lane(low, 1) + wasm_f64x2_extract_lane(high, 1));
}
