// Softmax cross-entropy kernels for wasm32 SIMD on the tfjs wasm heap: per-row maximum and sum of exponentials of the
// logits (the forward pass; the caller finishes log-sum-exp and the picked logit), and the gradient of the loss.
//
// Built by scripts/build-wasm.mjs (the same flags and heap rules as native/gemm.c: no data segment, no statics, no
// shadow stack). Logits are rows [N, V], row-major; targets int32 [N].

#include "simd-math.h"

/**
 * For every row n of logits [N, V]: maxima[n] = max_j x[n, j] and sums[n] = sum_j exp(x[n, j] - maxima[n]), so that
 * log-sum-exp is maxima[n] + log(sums[n]) (sums[n] >= 1). Exponentials below e^-87 count as 0.
 */
__attribute__((export_name("softmax_row_stats_f32"))) void softmax_row_stats_f32(int rows, int vocabulary, const float *logits,
                                                                                  float *maxima, float *sums) {
  for (int n = 0; n < rows; n++) {
    const float *x = logits + n * vocabulary;
    v128_t largest = splat(-__builtin_inff());
    for (int j = 0; j < vocabulary; j += 4) {
      const int lanes = lanes_left(vocabulary, j);
      // Lanes past the row end repeat lane 0, so they never raise the maximum.
      v128_t value = load_partial(x + j, lanes);
      if (lanes < 4) value = wasm_v128_bitselect(value, wasm_f32x4_splat(x[0]), wasm_i32x4_lt(wasm_i32x4_make(0, 1, 2, 3), wasm_i32x4_splat(lanes)));
      largest = wasm_f32x4_pmax(largest, value);
    }
    const float top = horizontal_max(largest);
    const v128_t vtop = splat(top);
    v128_t total = splat(0.0f);
    for (int j = 0; j < vocabulary; j += 4) {
      const int lanes = lanes_left(vocabulary, j);
      const v128_t live = wasm_i32x4_lt(wasm_i32x4_make(0, 1, 2, 3), wasm_i32x4_splat(lanes));
      total = wasm_f32x4_add(total, wasm_v128_and(exp_nonpositive(wasm_f32x4_sub(load_partial(x + j, lanes), vtop)), live));
    }
    maxima[n] = top;
    sums[n] = horizontal_sum(total);
  }
}

/**
 * Gradient of loss[n] = lse[n] - x[n, targets[n]] scaled by dy[n]: grad[n, j] = dy[n] (exp(x[n, j] - lse[n]) - [j ==
 * targets[n]]). A target outside [0, V) picks nothing (its one-hot row is 0), as in the composite op.
 */
__attribute__((export_name("softmax_cross_entropy_grad_f32"))) void softmax_cross_entropy_grad_f32(
    int rows, int vocabulary, const float *logits, const float *lse, const int *targets, const float *dy, float *grad) {
  for (int n = 0; n < rows; n++) {
    const float *x = logits + n * vocabulary;
    float *g = grad + n * vocabulary;
    const v128_t shift = splat(lse[n]);
    const v128_t scale = splat(dy[n]);
    for (int j = 0; j < vocabulary; j += 4) {
      const int lanes = lanes_left(vocabulary, j);
      const v128_t probability = exp_nonpositive(wasm_f32x4_pmin(wasm_f32x4_sub(load_partial(x + j, lanes), shift), splat(0.0f)));
      store_partial(g + j, wasm_f32x4_mul(probability, scale), lanes);
    }
    const int target = targets[n];
    if (target >= 0 && target < vocabulary) g[target] -= dy[n];
  }
}
