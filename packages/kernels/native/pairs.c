// The gather path of SPEC 2.2 for wasm32 SIMD on the tfjs wasm heap: per-pair relative position scores (no score table), the scatter of their backward pass into the table, and the query-key distances and distance index.
//
// Built by scripts/build-wasm.mjs (the same flags and heap rules as native/gemm.c). For keys that are not one contiguous
// range, each pair (query i, key j) reads the projected sinusoid of its own distance bucket, index[i][j], and takes one
// dot product per head, instead of scoring every bucket ([B, H, T, P]) and gathering K of the P columns (measured at
// the compressive tiny shape, [8, 4, 64, 128] pairs from 223 buckets, head width 32: 1.1 ms against 1.8-2.4 ms). The
// backward pass keeps the table form (pair_scatter_f32 into [B, H, T, P], then two GEMMs): a per-pair backward adds
// every pair's gradient into its bucket's row in memory, and measured 2.5x slower than the GEMMs. Layouts are
// token-major: queries [B, T, H*d], positions [RB, P, H*d] (RB = 1 shares one table), index int32 [IB, T, K]
// (IB = 1 shares one index), scores [B, H, T, K]. Indices outside [0, P) are clamped to it (never read out of range).
#include <wasm_simd128.h>

#include "simd-partial.h"

INLINE int clamp_bucket(int bucket, int buckets) { return bucket < 0 ? 0 : bucket >= buckets ? buckets - 1 : bucket; }

INLINE float horizontal_sum(v128_t v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) + (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

/**
 * One (b, i, h) row of scores for a head width of 4 * V floats (V = 4, 8 or 16): the query's V vectors stay in
 * registers, and four keys are scored at a time (their partial sums reduced together by shuffles).
 */
#define DEFINE_ROW_SCORES(V)                                                                                            \
  INLINE void row_scores_##V(const float *q, const float *table, int width, const int *index_row, int keys,          \
                             int buckets, float *out) {                                                               \
    v128_t query[V];                                                                                                  \
    _Pragma("clang loop unroll(full)") for (int v = 0; v < V; v++) query[v] = wasm_v128_load(q + 4 * v);            \
    int j = 0;                                                                                                        \
    for (; j + 4 <= keys; j += 4) {                                                                                   \
      const float *r0 = table + clamp_bucket(index_row[j], buckets) * width;                                          \
      const float *r1 = table + clamp_bucket(index_row[j + 1], buckets) * width;                                      \
      const float *r2 = table + clamp_bucket(index_row[j + 2], buckets) * width;                                      \
      const float *r3 = table + clamp_bucket(index_row[j + 3], buckets) * width;                                      \
      v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0, a2 = a0, a3 = a0;                                                   \
      _Pragma("clang loop unroll(full)") for (int v = 0; v < V; v++) {                                              \
        a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(query[v], wasm_v128_load(r0 + 4 * v)));                                \
        a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(query[v], wasm_v128_load(r1 + 4 * v)));                                \
        a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(query[v], wasm_v128_load(r2 + 4 * v)));                                \
        a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(query[v], wasm_v128_load(r3 + 4 * v)));                                \
      }                                                                                                               \
      /* Lane k of the result is the sum of the four lanes of a_k. */                                                 \
      const v128_t low = wasm_f32x4_add(wasm_i32x4_shuffle(a0, a1, 0, 4, 1, 5), wasm_i32x4_shuffle(a0, a1, 2, 6, 3, 7)); \
      const v128_t high = wasm_f32x4_add(wasm_i32x4_shuffle(a2, a3, 0, 4, 1, 5), wasm_i32x4_shuffle(a2, a3, 2, 6, 3, 7)); \
      wasm_v128_store(out + j, wasm_f32x4_add(wasm_i64x2_shuffle(low, high, 0, 2), wasm_i64x2_shuffle(low, high, 1, 3))); \
    }                                                                                                                 \
    for (; j < keys; j++) {                                                                                           \
      const float *r = table + clamp_bucket(index_row[j], buckets) * width;                                           \
      v128_t total = wasm_f32x4_splat(0.0f);                                                                          \
      _Pragma("clang loop unroll(full)") for (int v = 0; v < V; v++) total = wasm_f32x4_add(total, wasm_f32x4_mul(query[v], wasm_v128_load(r + 4 * v))); \
      const v128_t pairs = wasm_f32x4_add(wasm_i32x4_shuffle(total, total, 0, 4, 1, 5), wasm_i32x4_shuffle(total, total, 2, 6, 3, 7)); \
      out[j] = wasm_f32x4_extract_lane(wasm_f32x4_add(wasm_i64x2_shuffle(pairs, pairs, 0, 2), wasm_i64x2_shuffle(pairs, pairs, 1, 3)), 0); \
    }                                                                                                                 \
  }
DEFINE_ROW_SCORES(4)
DEFINE_ROW_SCORES(8)
DEFINE_ROW_SCORES(16)

/** One (b, i, h) row of scores for any head width: one key at a time, partial loads at the tail. */
INLINE void row_scores_any(const float *q, const float *table, int width, int head_dim, const int *index_row, int keys,
                           int buckets, float *out) {
  for (int j = 0; j < keys; j++) {
    const float *r = table + clamp_bucket(index_row[j], buckets) * width;
    v128_t total = wasm_f32x4_splat(0.0f);
    for (int e = 0; e < head_dim; e += 4) {
      const int lanes = head_dim - e < 4 ? head_dim - e : 4;
      total = wasm_f32x4_add(total, wasm_f32x4_mul(load_partial(q + e, lanes), load_partial(r + e, lanes)));
    }
    out[j] = horizontal_sum(total);
  }
}

/**
 * scores[b][h][i][j] = sum_e queries[b][i][h d + e] * positions[rb][index[ib][i][j]][h d + e], summed in four lanes
 * (lane l takes e = l mod 4) that are then added pairwise.
 */
__attribute__((export_name("pair_scores_f32"))) void pair_scores_f32(int batch, int heads, int queries, int keys, int head_dim,
                                                                     int buckets, const float *query, const float *positions,
                                                                     int position_batch_stride, const int *index,
                                                                     int index_batch_stride, float *scores) {
  const int width = heads * head_dim;
  for (int b = 0; b < batch; b++) {
    const float *table = positions + b * position_batch_stride;
    for (int i = 0; i < queries; i++) {
      const float *query_row = query + (b * queries + i) * width;
      const int *index_row = index + b * index_batch_stride + i * keys;
      for (int h = 0; h < heads; h++) {
        const float *q = query_row + h * head_dim;
        const float *head_table = table + h * head_dim;
        float *out = scores + ((b * heads + h) * queries + i) * keys;
        if (head_dim == 16) row_scores_4(q, head_table, width, index_row, keys, buckets, out);
        else if (head_dim == 32) row_scores_8(q, head_table, width, index_row, keys, buckets, out);
        else if (head_dim == 64) row_scores_16(q, head_table, width, index_row, keys, buckets, out);
        else row_scores_any(q, head_table, width, head_dim, index_row, keys, buckets, out);
      }
    }
  }
}

/**
 * The gradient of the table gather: out[sb][h][i][p] = sum of dy[b][h][i][j] over the b with sb = (score_batch == 1 ?
 * 0 : b) and the j with index[ib][i][j] = p, added in b then j order (the float adds of the former JS loop, so the
 * same bits). out is [score_batch, H, T, P] and is zeroed first; buckets outside [0, P) add nothing. dy is
 * [B, H, T, K], index int32 [IB, T, K] (IB = 1 shares one index).
 */
__attribute__((export_name("pair_scatter_f32"))) void pair_scatter_f32(int batch, int heads, int queries, int keys, int buckets,
                                                                       int score_batch, const float *dy, const int *index,
                                                                       int index_batch_stride, float *out) {
  const int total = score_batch * heads * queries * buckets;
  for (int e = 0; e < total; e++) out[e] = 0.0f;
  for (int b = 0; b < batch; b++) {
    const int target_batch = score_batch == 1 ? 0 : b;
    for (int h = 0; h < heads; h++) {
      for (int i = 0; i < queries; i++) {
        float *row = out + ((target_batch * heads + h) * queries + i) * buckets;
        const int *index_row = index + b * index_batch_stride + i * keys;
        const float *dy_row = dy + ((b * heads + h) * queries + i) * keys;
        for (int j = 0; j < keys; j++) {
          const int bucket = index_row[j];
          if (bucket >= 0 && bucket < buckets) row[bucket] += dy_row[j];
        }
      }
    }
  }
}

/** A position minus the row's origin in wrapping int32, rounded to float32. */
INLINE float rebased(int position, unsigned origin) { return (float)(int)((unsigned)position - origin); }

/**
 * The query-key distances of every (row, query, key), rebased on the row's first query position as the op path does:
 * each position minus that origin in wrapping int32, rounded to float32, then one float32 subtraction (the same bits).
 * query int32 [QB, T] and key int32 [KB, K] with batch strides 0 (shared) or T and K. With write_distances set,
 * `distances` gets the float32 distances [B, T, K]; else `index` gets int32 clip(distance, 0, clamp) and `causal` 1 where 0 <= distance
 * (< window when window > 0), else 0, compared in double as JavaScript compares.
 */
__attribute__((export_name("position_distances_f32"))) void position_distances_f32(int batch, int queries, int keys, const int *query,
                                                                                   int query_batch_stride, const int *key,
                                                                                   int key_batch_stride, int write_distances, float *distances, int *index,
                                                                                   float *causal, int clamp, int window) {
  const double clamp_length = (double)clamp;
  const double window_length = (double)window;
  for (int row = 0; row < batch; row++) {
    const int *query_row = query + row * query_batch_stride;
    const int *key_row = key + row * key_batch_stride;
    const unsigned origin = (unsigned)query_row[0];
    for (int i = 0; i < queries; i++) {
      const float query_float = rebased(query_row[i], origin);
      const int at = (row * queries + i) * keys;
      if (write_distances) {
        for (int j = 0; j < keys; j++) distances[at + j] = query_float - rebased(key_row[j], origin);
      } else {
        for (int j = 0; j < keys; j++) {
          const double distance = (double)(query_float - rebased(key_row[j], origin));
          index[at + j] = distance <= 0.0 ? 0 : distance >= clamp_length ? clamp : (int)distance;
          causal[at + j] = distance >= 0.0 && (window == 0 || distance < window_length) ? 1.0f : 0.0f;
        }
      }
    }
  }
}
