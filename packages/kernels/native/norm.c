// Layer normalisation over the rows of x [N, D] for wasm32 SIMD on the tfjs wasm heap: the forward pass and its backward.
//
// Built by scripts/build-wasm.mjs (the same flags and heap rules as native/gemm.c: no data segment, no statics, no
// shadow stack). Every array is row-major and contiguous: x, y, normalized, dy and dx are [N, D] (rows of D floats),
// inverse is [N], gamma, beta, dgamma and dbeta are [D]. A row's last chunk of fewer than 4 floats is read and written
// with the partial loads and stores of simd-partial.h, so no access goes past an array's end.

#include "simd-math.h"

/** All-ones in the first n (0..4) lanes, zero bits elsewhere (to drop the lanes past a row's end). */
INLINE v128_t lane_mask(int n) { return wasm_i32x4_lt(wasm_i32x4_make(0, 1, 2, 3), wasm_i32x4_splat(n)); }

/**
 * Forward, per row of x [N, D], in float32: the mean m = sum(x) / D (first pass); then d = x - m, the residual
 * c = sum(d) / D (the rounding error left in m) and the biased variance v = max(sum(d^2) / D - c^2, 0) (second pass);
 * inverse[r] = 1 / sqrt(v + epsilon); normalized = (d - c) * inverse[r] and y = normalized * gamma + beta (third pass).
 * Writes y and normalized [N, D] and inverse [N].
 */
__attribute__((export_name("layer_norm_f32"))) void layer_norm_f32(int rows, int width, const float *x, const float *gamma, const float *beta,
                                                                   float epsilon, float *y, float *normalized, float *inverse) {
  const float scale = 1.0f / (float)width;
  for (int r = 0; r < rows; r++) {
    const float *in = x + r * width;
    float *out = y + r * width;
    float *xhat = normalized + r * width;
    // Lanes past the row end load 0 and add nothing.
    v128_t total = splat(0.0f);
    for (int j = 0; j < width; j += 4) total = wasm_f32x4_add(total, load_partial(in + j, lanes_left(width, j)));
    const float mean = horizontal_sum(total) * scale;
    const v128_t vmean = splat(mean);
    v128_t residual = splat(0.0f);
    v128_t squares = splat(0.0f);
    for (int j = 0; j < width; j += 4) {
      const int lanes = lanes_left(width, j);
      // Past the row end x - m would be -m: those lanes are dropped.
      const v128_t d = wasm_v128_and(wasm_f32x4_sub(load_partial(in + j, lanes), vmean), lane_mask(lanes));
      residual = wasm_f32x4_add(residual, d);
      squares = wasm_f32x4_add(squares, wasm_f32x4_mul(d, d));
    }
    const float shift = horizontal_sum(residual) * scale;
    float variance = horizontal_sum(squares) * scale - shift * shift;
    if (!(variance > 0.0f)) variance = 0.0f;
    const float inv = 1.0f / __builtin_sqrtf(variance + epsilon);
    inverse[r] = inv;
    const v128_t vshift = splat(shift);
    const v128_t vinv = splat(inv);
    for (int j = 0; j < width; j += 4) {
      const int lanes = lanes_left(width, j);
      const v128_t h = wasm_f32x4_mul(wasm_f32x4_sub(wasm_f32x4_sub(load_partial(in + j, lanes), vmean), vshift), vinv);
      store_partial(xhat + j, h, lanes);
      store_partial(out + j, wasm_f32x4_add(wasm_f32x4_mul(h, load_partial(gamma + j, lanes)), load_partial(beta + j, lanes)), lanes);
    }
  }
}

/**
 * Backward of layer_norm_f32 from dy [N, D], the normalized x [N, D] and inverse [N] it wrote, and gamma [D]: per row,
 * g = dy * gamma, dx = (g - sum(g) / D - normalized * sum(g * normalized) / D) * inverse[r] ([N, D]); over the rows,
 * dgamma = sum(dy * normalized) and dbeta = sum(dy) ([D], overwritten).
 */
__attribute__((export_name("layer_norm_grad_f32"))) void layer_norm_grad_f32(int rows, int width, const float *dy, const float *normalized,
                                                                             const float *inverse, const float *gamma, float *dx,
                                                                             float *dgamma, float *dbeta) {
  const float scale = 1.0f / (float)width;
  for (int k = 0; k < width; k++) {
    dgamma[k] = 0.0f;
    dbeta[k] = 0.0f;
  }
  for (int r = 0; r < rows; r++) {
    const float *up = dy + r * width;
    const float *xhat = normalized + r * width;
    float *down = dx + r * width;
    // Lanes past the row end load 0 everywhere, so every product there is 0.
    v128_t along = splat(0.0f);
    v128_t projected = splat(0.0f);
    for (int j = 0; j < width; j += 4) {
      const int lanes = lanes_left(width, j);
      const v128_t u = load_partial(up + j, lanes);
      const v128_t h = load_partial(xhat + j, lanes);
      const v128_t g = wasm_f32x4_mul(u, load_partial(gamma + j, lanes));
      along = wasm_f32x4_add(along, g);
      projected = wasm_f32x4_add(projected, wasm_f32x4_mul(g, h));
      store_partial(dgamma + j, wasm_f32x4_add(load_partial(dgamma + j, lanes), wasm_f32x4_mul(u, h)), lanes);
      store_partial(dbeta + j, wasm_f32x4_add(load_partial(dbeta + j, lanes), u), lanes);
    }
    const v128_t mean_g = splat(horizontal_sum(along) * scale);
    const v128_t mean_gh = splat(horizontal_sum(projected) * scale);
    const v128_t vinv = splat(inverse[r]);
    for (int j = 0; j < width; j += 4) {
      const int lanes = lanes_left(width, j);
      const v128_t h = load_partial(xhat + j, lanes);
      const v128_t g = wasm_f32x4_mul(load_partial(up + j, lanes), load_partial(gamma + j, lanes));
      const v128_t centred = wasm_f32x4_sub(wasm_f32x4_sub(g, mean_g), wasm_f32x4_mul(h, mean_gh));
      store_partial(down + j, wasm_f32x4_mul(centred, vinv), lanes);
    }
  }
}
