// Strided float32 GEMM (C = act(A B + bias)) and blocked rank-4 transpose for wasm32 SIMD, on the tfjs wasm heap.
//
// Built by scripts/build-wasm.mjs with clang --target=wasm32 -O3 -msimd128 -nostdlib and --import-memory.
// The module shares its memory with emscripten's heap, so it must own nothing in it: no data segment, no
// static variables and no shadow stack (__stack_pointer). Every local stays in a wasm local (no arrays, no
// address-taken variables, always-inlined helpers); scripts/build-wasm.mjs checks the disassembly for
// __stack_pointer, data segments and imports other than env.memory, and refuses the build if it finds any.
//
// Layout: A[i, k] = a[i * a_row + k * a_col], B[k, j] = b[k * b_row + j * b_col], C[i, j] = c[i * c_row + j],
// so either operand may be transposed by passing its strides. B is packed, per block of BLOCK_N columns and
// BLOCK_K inner indices, into strips of 8 columns (pack[strip][k][0..7], zero-padded at the right edge);
// a 4x8 register tile (8 f32x4 accumulators) sweeps the strips. Rows past M reuse row M-1 (never stored).
//
// Built twice more with -mrelaxed-simd -DENGRAM_RELAXED_FMA (clang 16 or later): the tile then accumulates with
// relaxed SIMD's f32x4.relaxed_madd, which the engine runs as one fused multiply-add where the CPU has one.
#include <wasm_simd128.h>

#include "simd-partial.h"

#ifdef ENGRAM_RELAXED_FMA
typedef float f32x4_lanes __attribute__((__vector_size__(16), __aligned__(16)));
/** z + x * y with relaxed SIMD: fused (one rounding) where the CPU has FMA, else a multiply and an add. */
INLINE v128_t multiply_add(v128_t x, v128_t y, v128_t z) {
  return (v128_t)__builtin_wasm_relaxed_madd_f32x4((f32x4_lanes)x, (f32x4_lanes)y, (f32x4_lanes)z);
}
#else
/** z + x * y: a multiply and an add, each rounded. */
INLINE v128_t multiply_add(v128_t x, v128_t y, v128_t z) { return wasm_f32x4_add(z, wasm_f32x4_mul(x, y)); }
#endif

#define BLOCK_K 256
#define BLOCK_N 512
#define TILE_M 4
#define TILE_N 8

/** Activations, numbered like GEMM_ACTIVATION in src/kernels/gemm.ts. */
enum { ACT_LINEAR = 0, ACT_RELU = 1, ACT_RELU6 = 2, ACT_LEAKY_RELU = 3 };

static int min_int(int x, int y) { return x < y ? x : y; }

INLINE v128_t activate(v128_t x, int activation, v128_t alpha) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  switch (activation) {
    case ACT_RELU: return wasm_f32x4_max(x, zero);
    case ACT_RELU6: return wasm_f32x4_min(wasm_f32x4_max(x, zero), wasm_f32x4_splat(6.0f));
    case ACT_LEAKY_RELU: return wasm_v128_bitselect(wasm_f32x4_mul(x, alpha), x, wasm_f32x4_lt(x, zero));
    default: return x;
  }
}

/**
 * Finishes one row of a tile: adds what C holds unless this is the first k-block, adds the bias and applies
 * the activation on the last k-block, and stores the first nr (1..8) columns.
 */
INLINE void finish_row(float *c, v128_t low, v128_t high, int nr, int first, int last, v128_t bias_low,
                       v128_t bias_high, int activation, v128_t alpha) {
  if (nr == TILE_N) {
    if (!first) {
      low = wasm_f32x4_add(low, wasm_v128_load(c));
      high = wasm_f32x4_add(high, wasm_v128_load(c + 4));
    }
    if (last) {
      low = activate(wasm_f32x4_add(low, bias_low), activation, alpha);
      high = activate(wasm_f32x4_add(high, bias_high), activation, alpha);
    }
    wasm_v128_store(c, low);
    wasm_v128_store(c + 4, high);
    return;
  }
  const int n_low = min_int(nr, 4);
  const int n_high = nr - n_low;
  if (!first) {
    low = wasm_f32x4_add(low, load_partial(c, n_low));
    high = wasm_f32x4_add(high, load_partial(c + 4, n_high));
  }
  if (last) {
    low = activate(wasm_f32x4_add(low, bias_low), activation, alpha);
    high = activate(wasm_f32x4_add(high, bias_high), activation, alpha);
  }
  store_partial(c, low, n_low);
  store_partial(c + 4, high, n_high);
}

/**
 * One 4x8 tile over kc inner indices: rows a0..a3 of A (stride a_col along k), packed strip p ([kc][8]),
 * output c (row stride c_row) with mr (1..4) valid rows and nr (1..8) valid columns.
 */
INLINE void tile_4x8(int kc, const float *a0, const float *a1, const float *a2, const float *a3, int a_col,
                     const float *p, float *c, int c_row, int mr, int nr, int first, int last, v128_t bias_low,
                     v128_t bias_high, int activation, v128_t alpha) {
  v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00;
  v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (int k = 0; k < kc; k++) {
    const v128_t b0 = wasm_v128_load(p);
    const v128_t b1 = wasm_v128_load(p + 4);
    p += TILE_N;
    const v128_t x0 = wasm_f32x4_splat(*a0);
    const v128_t x1 = wasm_f32x4_splat(*a1);
    const v128_t x2 = wasm_f32x4_splat(*a2);
    const v128_t x3 = wasm_f32x4_splat(*a3);
    a0 += a_col;
    a1 += a_col;
    a2 += a_col;
    a3 += a_col;
    c00 = multiply_add(x0, b0, c00);
    c01 = multiply_add(x0, b1, c01);
    c10 = multiply_add(x1, b0, c10);
    c11 = multiply_add(x1, b1, c11);
    c20 = multiply_add(x2, b0, c20);
    c21 = multiply_add(x2, b1, c21);
    c30 = multiply_add(x3, b0, c30);
    c31 = multiply_add(x3, b1, c31);
  }
  finish_row(c, c00, c01, nr, first, last, bias_low, bias_high, activation, alpha);
  if (mr > 1) finish_row(c + c_row, c10, c11, nr, first, last, bias_low, bias_high, activation, alpha);
  if (mr > 2) finish_row(c + 2 * c_row, c20, c21, nr, first, last, bias_low, bias_high, activation, alpha);
  if (mr > 3) finish_row(c + 3 * c_row, c30, c31, nr, first, last, bias_low, bias_high, activation, alpha);
}

/** Packs B[0..kc, 0..nc] (strides b_row, b_col) into 8-column strips: pack[(j / 8) * kc * 8 + k * 8 + j % 8]. */
static void pack_b(const float *b, int kc, int nc, int b_row, int b_col, float *pack) {
  for (int j0 = 0; j0 < nc; j0 += TILE_N) {
    const int nr = min_int(TILE_N, nc - j0);
    float *strip = pack + j0 * kc;
    if (b_col == 1 && nr == TILE_N) {
      const float *source = b + j0;
      for (int k = 0; k < kc; k++) {
        wasm_v128_store(strip + k * TILE_N, wasm_v128_load(source));
        wasm_v128_store(strip + k * TILE_N + 4, wasm_v128_load(source + 4));
        source += b_row;
      }
      continue;
    }
    for (int column = 0; column < TILE_N; column++) {
      if (column < nr) {
        const float *source = b + (j0 + column) * b_col;
        for (int k = 0; k < kc; k++) strip[k * TILE_N + column] = source[k * b_row];
      } else {
        for (int k = 0; k < kc; k++) strip[k * TILE_N + column] = 0.0f;
      }
    }
  }
}

/** Size of the scratch `gemm_f32` needs for its packed B panel, in floats. */
__attribute__((export_name("gemm_scratch_floats"))) int gemm_scratch_floats(void) { return BLOCK_K * BLOCK_N; }

/**
 * C[g] = act(A[g] B[g] + bias) for g < batch, with A[g] = a + g * a_batch etc. (a batch stride of 0 broadcasts
 * one matrix over the batch). A is [m, k], B is [k, n], C is [m, n] with rows c_row apart; k may be 0 (C = act(bias)).
 * bias: null for none, else bias[j * bias_stride] is added to column j; bias_stride is 1, or 0 to broadcast a scalar.
 * activation: ACT_*; alpha: the leaky-relu slope. pack: scratch of gemm_scratch_floats() floats.
 */
__attribute__((export_name("gemm_f32"))) void gemm_f32(int batch, int m, int n, int k, const float *a, int a_batch,
                                                       int a_row, int a_col, const float *b, int b_batch, int b_row,
                                                       int b_col, float *c, int c_batch, int c_row,
                                                       const float *bias, int bias_stride, int activation,
                                                       float alpha, float *pack) {
  const v128_t alpha_vector = wasm_f32x4_splat(alpha);
  for (int g = 0; g < batch; g++) {
    const float *a_matrix = a + g * a_batch;
    const float *b_matrix = b + g * b_batch;
    float *c_matrix = c + g * c_batch;
    for (int n0 = 0; n0 < n; n0 += BLOCK_N) {
      const int nc = min_int(BLOCK_N, n - n0);
      int k0 = 0;
      do {
        const int kc = min_int(BLOCK_K, k - k0);
        pack_b(b_matrix + k0 * b_row + n0 * b_col, kc, nc, b_row, b_col, pack);
        const int first = k0 == 0;
        const int last = k0 + kc >= k;
        for (int j0 = 0; j0 < nc; j0 += TILE_N) {
          const int nr = min_int(TILE_N, nc - j0);
          v128_t bias_low = wasm_f32x4_splat(0.0f), bias_high = bias_low;
          if (bias) {
            if (bias_stride == 0) {
              bias_low = bias_high = wasm_f32x4_splat(bias[0]);
            } else {
              const float *column_bias = bias + (n0 + j0) * bias_stride;
              const int n_low = min_int(nr, 4);
              bias_low = load_partial(column_bias, n_low);
              bias_high = load_partial(column_bias + 4, nr - n_low);
            }
          }
          const float *strip = pack + j0 * kc;
          float *c_columns = c_matrix + n0 + j0;
          for (int i0 = 0; i0 < m; i0 += TILE_M) {
            const int mr = min_int(TILE_M, m - i0);
            const float *row0 = a_matrix + i0 * a_row + k0 * a_col;
            const float *row1 = mr > 1 ? row0 + a_row : row0;
            const float *row2 = mr > 2 ? row1 + a_row : row1;
            const float *row3 = mr > 3 ? row2 + a_row : row2;
            tile_4x8(kc, row0, row1, row2, row3, a_col, strip, c_columns + i0 * c_row, c_row, mr, nr, first, last,
                     bias_low, bias_high, activation, alpha_vector);
          }
        }
        k0 += kc;
      } while (k0 < k);
    }
  }
}

/**
 * Copies a 4x4 block: rows r0..r3 of the input are 4 consecutive output columns; writes 4 output rows
 * out, out + out_row, .. (bit-exact: shuffles only, so int32 and float32 alike).
 */
INLINE void transpose_block_4x4(const int *in, int in_column, int *out, int out_row) {
  const v128_t v0 = wasm_v128_load(in);
  const v128_t v1 = wasm_v128_load(in + in_column);
  const v128_t v2 = wasm_v128_load(in + 2 * in_column);
  const v128_t v3 = wasm_v128_load(in + 3 * in_column);
  const v128_t t0 = wasm_i32x4_shuffle(v0, v1, 0, 4, 1, 5);
  const v128_t t1 = wasm_i32x4_shuffle(v0, v1, 2, 6, 3, 7);
  const v128_t t2 = wasm_i32x4_shuffle(v2, v3, 0, 4, 1, 5);
  const v128_t t3 = wasm_i32x4_shuffle(v2, v3, 2, 6, 3, 7);
  wasm_v128_store(out, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
  wasm_v128_store(out + out_row, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
  wasm_v128_store(out + 2 * out_row, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
  wasm_v128_store(out + 3 * out_row, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
}

#define TRANSPOSE_BLOCK 32

/**
 * The plane out[x][y] = in[x + y * in_column] for x < rows, y < columns (output rows out_row apart), in blocks of
 * TRANSPOSE_BLOCK x TRANSPOSE_BLOCK made of 4x4 shuffles; the edges are copied one element at a time.
 */
static void transpose_plane(const int *in, int in_column, int *out, int out_row, int rows, int columns) {
  const int rows4 = rows & ~3;
  const int columns4 = columns & ~3;
  for (int x0 = 0; x0 < rows4; x0 += TRANSPOSE_BLOCK) {
    const int x1 = min_int(x0 + TRANSPOSE_BLOCK, rows4);
    for (int y0 = 0; y0 < columns4; y0 += TRANSPOSE_BLOCK) {
      const int y1 = min_int(y0 + TRANSPOSE_BLOCK, columns4);
      for (int x = x0; x < x1; x += 4) {
        for (int y = y0; y < y1; y += 4) transpose_block_4x4(in + x + y * in_column, in_column, out + x * out_row + y, out_row);
      }
    }
  }
  for (int x = 0; x < rows4; x++) {
    for (int y = columns4; y < columns; y++) out[x * out_row + y] = in[x + y * in_column];
  }
  for (int x = rows4; x < rows; x++) {
    for (int y = 0; y < columns; y++) out[x * out_row + y] = in[x + y * in_column];
  }
}

/**
 * out[o0][o1][o2][o3] = in[o0 s0 + o1 s1 + o2 s2 + o3 s3] for a contiguous output of extents d0..d3, 32-bit elements.
 * When s3 == 1 every output row is a contiguous copy; otherwise the input's contiguous axis must be one of 0..2
 * (its stride 1) and each plane (that axis, axis 3) is transposed in blocks.
 */
__attribute__((export_name("transpose_32"))) void transpose_32(const int *in, int *out, int d0, int d1, int d2, int d3,
                                                               int s0, int s1, int s2, int s3) {
  const int t2 = d3, t1 = d2 * d3, t0 = d1 * d2 * d3;
  if (s3 == 1) {
    for (int o0 = 0; o0 < d0; o0++) {
      for (int o1 = 0; o1 < d1; o1++) {
        for (int o2 = 0; o2 < d2; o2++) {
          const int *source = in + o0 * s0 + o1 * s1 + o2 * s2;
          int *target = out + o0 * t0 + o1 * t1 + o2 * t2;
          int o3 = 0;
          for (; o3 + 4 <= d3; o3 += 4) wasm_v128_store(target + o3, wasm_v128_load(source + o3));
          for (; o3 < d3; o3++) target[o3] = source[o3];
        }
      }
    }
    return;
  }
  // The plane axis q (input stride 1) and the two others a, b, looped over outside the plane (no arrays: locals only).
  const int q = s2 == 1 ? 2 : s1 == 1 ? 1 : 0;
  const int extent_a = q == 0 ? d1 : d0, in_a = q == 0 ? s1 : s0, out_a = q == 0 ? t1 : t0;
  const int extent_b = q == 2 ? d1 : d2, in_b = q == 2 ? s1 : s2, out_b = q == 2 ? t1 : t2;
  const int extent_q = q == 0 ? d0 : q == 1 ? d1 : d2;
  const int out_q = q == 0 ? t0 : q == 1 ? t1 : t2;
  for (int ia = 0; ia < extent_a; ia++) {
    for (int ib = 0; ib < extent_b; ib++) {
      transpose_plane(in + ia * in_a + ib * in_b, s3, out + ia * out_a + ib * out_b, out_q, extent_q, d3);
    }
  }
}
