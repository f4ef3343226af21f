// Span-method attention kernels for wasm32 SIMD on the tfjs wasm heap: the soft ramp mask of SPEC 4 / 5 from its small
// inputs, its span gradient and ramp penalty, and the soft-masked softmax of SPEC 4 with its backward pass.
//
// Built by scripts/build-wasm.mjs (the same flags and heap rules as native/gemm.c: no data segment, no statics, no
// shadow stack). Shapes follow the attention scores [B, H, T, K] (batch, heads, queries, keys), row-major. A small
// input that broadcasts against the scores is addressed by element strides per axis, 0 on a broadcast axis; its last
// (key) axis is either contiguous (stride 1) or broadcast (stride 0) where the comment says so.

#include "simd-math.h"

/** The ramp (s - x) / ramp + 1 per lane (not clamped). */
INLINE v128_t ramp_of(v128_t s, v128_t x, v128_t ramp) { return wasm_f32x4_add(wasm_f32x4_div(wasm_f32x4_sub(s, x), ramp), splat(1.0f)); }

/**
 * The soft ramp mask: out[b,h,i,j] = x >= 0 ? clamp((s - x) / ramp + 1, 0, 1) : 0 with the span
 * s = spans[b*sb + h*sh + j*sj] (sj 0 or 1) and the query-key distance x = distances[b*db + i*K + j]
 * (distances [B or 1, 1, T, K]).
 */
__attribute__((export_name("span_mask_f32"))) void span_mask_f32(int batch, int heads, int queries, int keys, const float *spans, int sb,
                                                                 int sh, int sj, const float *distances, int db, float ramp,
                                                                 float *out) {
  const v128_t vramp = splat(ramp);
  for (int b = 0; b < batch; b++) {
    for (int h = 0; h < heads; h++) {
      const float *span_row = spans + b * sb + h * sh;
      for (int i = 0; i < queries; i++) {
        const float *x_row = distances + b * db + i * keys;
        float *out_row = out + ((b * heads + h) * queries + i) * keys;
        for (int j = 0; j < keys; j += 4) {
          const int lanes = lanes_left(keys, j);
          const v128_t x = load_partial(x_row + j, lanes);
          const v128_t s = sj == 0 ? splat(span_row[0]) : load_partial(span_row + j, lanes);
          const v128_t u = wasm_f32x4_min(wasm_f32x4_max(ramp_of(s, x, vramp), splat(0.0f)), splat(1.0f));
          store_partial(out_row + j, wasm_v128_and(u, wasm_f32x4_ge(x, splat(0.0f))), lanes);
        }
      }
    }
  }
}

/**
 * Gradient of span_mask_f32 with respect to the spans: grad[s] = (sum of dy over the pairs reading span s with
 * x >= 0 and 0 <= (s - x) / ramp + 1 <= 1, the clamp's closed range) / ramp. grad has `span_count` floats laid out as
 * the spans (strides sb, sh, sj) and is overwritten.
 */
__attribute__((export_name("span_mask_grad_f32"))) void span_mask_grad_f32(int batch, int heads, int queries, int keys, const float *dy,
                                                                           const float *spans, int sb, int sh, int sj,
                                                                           const float *distances, int db, float ramp, float *grad,
                                                                           int span_count) {
  const v128_t vramp = splat(ramp);
  for (int k = 0; k < span_count; k++) grad[k] = 0.0f;
  for (int b = 0; b < batch; b++) {
    for (int h = 0; h < heads; h++) {
      const float *span_row = spans + b * sb + h * sh;
      float *grad_row = grad + b * sb + h * sh;
      for (int i = 0; i < queries; i++) {
        const float *x_row = distances + b * db + i * keys;
        const float *dy_row = dy + ((b * heads + h) * queries + i) * keys;
        v128_t total = splat(0.0f);
        for (int j = 0; j < keys; j += 4) {
          const int lanes = lanes_left(keys, j);
          const v128_t x = load_partial(x_row + j, lanes);
          const v128_t s = sj == 0 ? splat(span_row[0]) : load_partial(span_row + j, lanes);
          const v128_t u = ramp_of(s, x, vramp);
          const v128_t inside = wasm_v128_and(wasm_f32x4_ge(x, splat(0.0f)), wasm_v128_and(wasm_f32x4_ge(u, splat(0.0f)), wasm_f32x4_le(u, splat(1.0f))));
          const v128_t contribution = wasm_v128_and(load_partial(dy_row + j, lanes), inside);
          if (sj == 0) total = wasm_f32x4_add(total, contribution);
          else store_partial(grad_row + j, wasm_f32x4_add(load_partial(grad_row + j, lanes), contribution), lanes);
        }
        if (sj == 0) grad_row[0] += horizontal_sum(total);
      }
    }
  }
  for (int k = 0; k < span_count; k++) grad[k] = grad[k] / ramp;
}

/**
 * The ramp penalty's pieces (Expire-Span's auxiliary loss, SPEC 4): for every pair with x >= 0 and
 * 0 < (s - x) / ramp + 1 < 1 (the mask strictly on its ramp), sums[s] += s - x and counts[s] += 1. sums and counts
 * have `span_count` floats laid out as the spans and are overwritten.
 */
__attribute__((export_name("span_penalty_f32"))) void span_penalty_f32(int batch, int heads, int queries, int keys, const float *spans,
                                                                       int sb, int sh, int sj, const float *distances, int db,
                                                                       float ramp, float *sums, float *counts, int span_count) {
  const v128_t vramp = splat(ramp);
  for (int k = 0; k < span_count; k++) {
    sums[k] = 0.0f;
    counts[k] = 0.0f;
  }
  for (int b = 0; b < batch; b++) {
    for (int h = 0; h < heads; h++) {
      const float *span_row = spans + b * sb + h * sh;
      float *sum_row = sums + b * sb + h * sh;
      float *count_row = counts + b * sb + h * sh;
      for (int i = 0; i < queries; i++) {
        const float *x_row = distances + b * db + i * keys;
        v128_t total = splat(0.0f);
        v128_t count = splat(0.0f);
        for (int j = 0; j < keys; j += 4) {
          const int lanes = lanes_left(keys, j);
          const v128_t x = load_partial(x_row + j, lanes);
          const v128_t s = sj == 0 ? splat(span_row[0]) : load_partial(span_row + j, lanes);
          const v128_t remaining = wasm_f32x4_sub(s, x);
          const v128_t u = wasm_f32x4_add(wasm_f32x4_div(remaining, vramp), splat(1.0f));
          // Lanes past the row end never count.
          const v128_t lane_valid = wasm_i32x4_lt(wasm_i32x4_make(0, 1, 2, 3), wasm_i32x4_splat(lanes));
          const v128_t on = wasm_v128_and(wasm_v128_and(lane_valid, wasm_f32x4_ge(x, splat(0.0f))),
                                          wasm_v128_and(wasm_f32x4_gt(u, splat(0.0f)), wasm_f32x4_lt(u, splat(1.0f))));
          const v128_t added = wasm_v128_and(remaining, on);
          const v128_t counted = wasm_v128_and(splat(1.0f), on);
          if (sj == 0) {
            total = wasm_f32x4_add(total, added);
            count = wasm_f32x4_add(count, counted);
          } else {
            store_partial(sum_row + j, wasm_f32x4_add(load_partial(sum_row + j, lanes), added), lanes);
            store_partial(count_row + j, wasm_f32x4_add(load_partial(count_row + j, lanes), counted), lanes);
          }
        }
        if (sj == 0) {
          sum_row[0] += horizontal_sum(total);
          count_row[0] += horizontal_sum(count);
        }
      }
    }
  }
}

/**
 * The soft-masked softmax of SPEC 4 over the last axis of scores [B, H, T, K]. A key is visible when its hard mask
 * is non-zero and its soft mask m > 0; per row, p = softmax over the visible keys (0 elsewhere; a row with no visible
 * key is all 0), w = p * m, den = sum(w) + 1e-8, out = w / den. Writes out and p ([B, H, T, K]) and den ([B, H, T]).
 * mask and soft have contiguous key axes and strides (mb, mh, mi) and (sb, sh, si) on the other axes.
 */
__attribute__((export_name("soft_masked_softmax_f32"))) void soft_masked_softmax_f32(int batch, int heads, int queries, int keys,
                                                                                     const float *scores, const float *mask, int mb,
                                                                                     int mh, int mi, const float *soft, int sb,
                                                                                     int sh, int si, float *out, float *probabilities,
                                                                                     float *denominators) {
  const v128_t zero = splat(0.0f);
  for (int b = 0; b < batch; b++) {
    for (int h = 0; h < heads; h++) {
      for (int i = 0; i < queries; i++) {
        const int row = (b * heads + h) * queries + i;
        const float *s = scores + row * keys;
        const float *hard = mask + b * mb + h * mh + i * mi;
        const float *m = soft + b * sb + h * sh + i * si;
        float *p = probabilities + row * keys;
        float *y = out + row * keys;
        // Lanes past the row end load a hard mask of 0: never visible.
        v128_t largest = splat(-__builtin_inff());
        for (int j = 0; j < keys; j += 4) {
          const int lanes = lanes_left(keys, j);
          const v128_t visible = wasm_v128_and(wasm_f32x4_ne(load_partial(hard + j, lanes), zero), wasm_f32x4_gt(load_partial(m + j, lanes), zero));
          largest = wasm_f32x4_pmax(largest, wasm_v128_bitselect(load_partial(s + j, lanes), splat(-__builtin_inff()), visible));
        }
        const v128_t top = splat(horizontal_max(largest));
        v128_t total = zero;
        for (int j = 0; j < keys; j += 4) {
          const int lanes = lanes_left(keys, j);
          const v128_t visible = wasm_v128_and(wasm_f32x4_ne(load_partial(hard + j, lanes), zero), wasm_f32x4_gt(load_partial(m + j, lanes), zero));
          const v128_t e = wasm_v128_and(exp_nonpositive(wasm_f32x4_sub(load_partial(s + j, lanes), top)), visible);
          store_partial(p + j, e, lanes);
          total = wasm_f32x4_add(total, e);
        }
        const float sum = horizontal_sum(total);
        v128_t weighted = zero;
        if (sum > 0.0f) {
          const v128_t vsum = splat(sum);
          for (int j = 0; j < keys; j += 4) {
            const int lanes = lanes_left(keys, j);
            const v128_t normalised = wasm_f32x4_div(load_partial(p + j, lanes), vsum);
            store_partial(p + j, normalised, lanes);
            weighted = wasm_f32x4_add(weighted, wasm_f32x4_mul(normalised, load_partial(m + j, lanes)));
          }
        }
        const float den = horizontal_sum(weighted) + 1e-8f;
        const v128_t vden = splat(den);
        for (int j = 0; j < keys; j += 4) {
          const int lanes = lanes_left(keys, j);
          store_partial(y + j, wasm_f32x4_div(wasm_f32x4_mul(load_partial(p + j, lanes), load_partial(m + j, lanes)), vden), lanes);
        }
        denominators[row] = den;
      }
    }
  }
}

/**
 * Backward of soft_masked_softmax_f32 from dy (the gradient of out), p and den as it wrote them, and m:
 * y = p m / den, dw = (dy - sum(dy y)) / den, grad_soft += dw p (summed over the soft mask's broadcast axes),
 * g = dw m, grad_scores = p (g - sum(g p)). grad_soft has `soft_count` floats laid out as the soft mask (strides
 * sb, sh, si, contiguous keys) and is overwritten. Where a key is hidden p is 0, so its gradients are 0. Also writes
 * the forward output y again ([B, H, T, K]), which the value gradient needs, so the forward need not keep it.
 */
__attribute__((export_name("soft_masked_softmax_grad_f32"))) void soft_masked_softmax_grad_f32(
    int batch, int heads, int queries, int keys, const float *dy, const float *probabilities, const float *denominators,
    const float *soft, int sb, int sh, int si, float *grad_scores, float *grad_soft, float *out, int soft_count) {
  for (int k = 0; k < soft_count; k++) grad_soft[k] = 0.0f;
  for (int b = 0; b < batch; b++) {
    for (int h = 0; h < heads; h++) {
      for (int i = 0; i < queries; i++) {
        const int row = (b * heads + h) * queries + i;
        const float *g = dy + row * keys;
        const float *p = probabilities + row * keys;
        const float *m = soft + b * sb + h * sh + i * si;
        float *gm = grad_soft + b * sb + h * sh + i * si;
        float *gs = grad_scores + row * keys;
        float *y = out + row * keys;
        const v128_t den = splat(denominators[row]);
        v128_t along = splat(0.0f);
        for (int j = 0; j < keys; j += 4) {
          const int lanes = lanes_left(keys, j);
          const v128_t weight = wasm_f32x4_div(wasm_f32x4_mul(load_partial(p + j, lanes), load_partial(m + j, lanes)), den);
          store_partial(y + j, weight, lanes);
          along = wasm_f32x4_add(along, wasm_f32x4_mul(load_partial(g + j, lanes), weight));
        }
        const v128_t total_along = splat(horizontal_sum(along));
        v128_t back = splat(0.0f);
        for (int j = 0; j < keys; j += 4) {
          const int lanes = lanes_left(keys, j);
          const v128_t pj = load_partial(p + j, lanes);
          const v128_t dw = wasm_f32x4_div(wasm_f32x4_sub(load_partial(g + j, lanes), total_along), den);
          store_partial(gm + j, wasm_f32x4_add(load_partial(gm + j, lanes), wasm_f32x4_mul(dw, pj)), lanes);
          const v128_t up = wasm_f32x4_mul(dw, load_partial(m + j, lanes));
          store_partial(gs + j, up, lanes);
          back = wasm_f32x4_add(back, wasm_f32x4_mul(up, pj));
        }
        const v128_t total_back = splat(horizontal_sum(back));
        for (int j = 0; j < keys; j += 4) {
          const int lanes = lanes_left(keys, j);
          store_partial(gs + j, wasm_f32x4_mul(load_partial(p + j, lanes), wasm_f32x4_sub(load_partial(gs + j, lanes), total_back)), lanes);
        }
      }
    }
  }
}
