// Fused relative-attention core: content + relative position scores, masked softmax, dropout and the value product in one taped op (SPEC 2.2, 4).
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';
import { PAIR_SCORES, type PairScoresAttrs } from '../kernels/pair-scores.js';
import { SOFT_MASKED_SOFTMAX, SOFT_MASKED_SOFTMAX_GRAD } from '../kernels/span-kernels.js';
import { applyOp, applyTransposedOp, reduceToBatch, scoresOp } from './head-matmul.js';
import { hardMaskedBackward, hardMaskedForward, softMaskedBackward, softMaskedForward } from './masked-softmax.js';
import { relativeGather, relativeScatter } from './relative-gather.js';
import { shiftRelative, shiftRelativeAdjoint } from './rel-shift.js';
import { assertBroadcastsTo, assertDtype, assertInteger, assertTensor, describeShape } from './validate.js';

/** Options of {@link relativeAttentionCore}. */
export interface RelativeAttentionCoreOptions {
  /** Number of heads H (divides the width D = H * d). */
  heads: number;
  /** float 0/1 visibility (causal, same_length), broadcastable to `[B, H, T, K]`, e.g. `[1, 1, T, K]`; a constant. */
  mask: tf.Tensor;
  /**
   * int32 `[B, T, K]`: the column of the position scores `[B, H, T, P]` that holds each (query, key) pair's distance
   * (the gather path). Absent: the rel-shift path for contiguous keys, where column j' holds distance `K-1-j'` and `P = K`.
   */
  positionIndex?: tf.Tensor3D;
  /** float in [0, 1], broadcastable to `[B, H, T, K]`: the span methods' soft mask, renormalised after the softmax; it gets a gradient. */
  softMask?: tf.Tensor;
  /** Dropout on the probabilities (tf.dropout with this rate and seed); absent or rate 0: none. */
  dropout?: { rate: number; seed: number };
}

/**
 * One layer's attention from projected, biased queries to the value-weighted sum, as one taped op:
 * `s = headScores(qu, k) + shift(headScores(qv, r))`, `p = maskedSoftmax(s, mask, softMask)`, optional dropout,
 * `out = headApply(p, v)`. Forward values are those of the unfused ops (the same ops run). The hand-written backward
 * pass saves only the five inputs, the probabilities (and, with a soft mask, the softmax denominator) and frees every
 * score-sized intermediate of a layer before the next layer's backward runs; the unfused ops keep about ten
 * score-sized tensors per layer until the whole backward pass ends (the tape keeps every gradient).
 * @param contentQueries `(q + u) / sqrt(d)`, float32 `[B, T, D]` token-major (head h in columns h*d .. h*d+d-1)
 * @param positionQueries `(q + v) / sqrt(d)`, float32 `[B, T, D]`
 * @param keys float32 `[B, K, D]`
 * @param values float32 `[B, K, D]`
 * @param positions projected sinusoids `R W_r`, float32 `[B or 1, P, D]` (`P = K` on the rel-shift path)
 * @returns `[B, T, D]`, heads merged
 */
export function relativeAttentionCore(
  contentQueries: tf.Tensor3D,
  positionQueries: tf.Tensor3D,
  keys: tf.Tensor3D,
  values: tf.Tensor3D,
  positions: tf.Tensor3D,
  options: RelativeAttentionCoreOptions,
): tf.Tensor3D {
  const operation = 'relativeAttentionCore';
  const named: Array<[string, tf.Tensor]> = [
    ['contentQueries', contentQueries],
    ['positionQueries', positionQueries],
    ['keys', keys],
    ['values', values],
    ['positions', positions],
  ];
  for (const [name, tensor] of named) {
    assertTensor(operation, name, tensor, 3, '[batch, length, heads * headDim]');
    assertDtype(operation, name, tensor, ['float32']);
  }
  const [batch, queries, width] = contentQueries.shape;
  const keyCount = keys.shape[1];
  const { heads, mask, positionIndex, softMask, dropout } = options;
  assertInteger(operation, 'heads', heads, 1);
  if (width % heads !== 0) {
    throw new InvalidArgumentError({ operation, parameter: 'heads', expected: `a divisor of the width ${width}`, actual: String(heads) });
  }
  const distances = positions.shape[1];
  const shapeChecks: Array<[string, tf.Tensor, boolean, string]> = [
    ['positionQueries', positionQueries, sameShape(positionQueries.shape, [batch, queries, width]), `[${batch}, ${queries}, ${width}] (like contentQueries)`],
    ['keys', keys, keys.shape[0] === batch && keys.shape[2] === width, `[${batch}, K, ${width}]`],
    ['values', values, sameShape(values.shape, keys.shape), `[${batch}, ${keyCount}, ${width}] (like keys)`],
    ['positions', positions, (positions.shape[0] === batch || positions.shape[0] === 1) && positions.shape[2] === width, `[${batch} or 1, P, ${width}]`],
  ];
  for (const [name, tensor, ok, expected] of shapeChecks) {
    if (!ok) throw new InvalidArgumentError({ operation, parameter: name, expected, actual: describeShape(tensor.shape) });
  }
  const scoreShape = [batch, heads, queries, keyCount];
  if (positionIndex === undefined) {
    if (distances !== keyCount || keyCount < queries) {
      throw new InvalidArgumentError({
        operation,
        parameter: 'positions',
        expected: `[B or 1, ${keyCount}, ${width}] (one distance per key, K >= T) on the rel-shift path`,
        actual: describeShape(positions.shape),
        fix: 'Pass positionIndex for keys that are not a contiguous [memory; current] range.',
      });
    }
  } else {
    assertTensor(operation, 'positionIndex', positionIndex, 3, '[batch, queries, keys]');
    assertDtype(operation, 'positionIndex', positionIndex, ['int32']);
    if (!sameShape(positionIndex.shape, [batch, queries, keyCount])) {
      throw new InvalidArgumentError({ operation, parameter: 'positionIndex', expected: `[${batch}, ${queries}, ${keyCount}]`, actual: describeShape(positionIndex.shape) });
    }
  }
  assertDtype(operation, 'mask', mask, ['float32']);
  assertBroadcastsTo(operation, 'mask', mask.shape, scoreShape, 'the scores [B, H, T, K]');
  if (softMask !== undefined) {
    assertDtype(operation, 'softMask', softMask, ['float32']);
    assertBroadcastsTo(operation, 'softMask', softMask.shape, scoreShape, 'the scores [B, H, T, K]');
  }
  const rate = dropout?.rate ?? 0;
  if (!(rate >= 0 && rate < 1)) {
    throw new InvalidArgumentError({ operation, parameter: 'dropout.rate', expected: 'a rate in [0, 1)', actual: String(rate) });
  }
  const seed = dropout?.seed ?? 0;

  const gathered = positionIndex !== undefined;
  // The gather path's forward as one per-pair kernel (native/pairs.c, wasm with the fast kernels): each (query, key)
  // pair scores its own bucket, so no [B, H, T, P] table is scored and gathered from. The backward pass is the same
  // on both forms: the gradient scattered into [B, H, T, P] and two head products.
  const pairs = gathered && tf.getKernel(PAIR_SCORES, tf.getBackend()) !== undefined;
  const pairAttrs: PairScoresAttrs = { heads };
  const positionTerm = (queriesWithV: tf.Tensor3D, projected: tf.Tensor3D, index: tf.Tensor3D | undefined): tf.Tensor4D => {
    if (index !== undefined && pairs) {
      return tf.engine().runKernel(PAIR_SCORES, { queries: queriesWithV, positions: projected, index }, pairAttrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
    }
    const raw = scoresOp(queriesWithV, projected, heads);
    return index === undefined ? shiftRelative(raw) : relativeGather(raw, index);
  };
  const positionAdjoint = (gradient: tf.Tensor4D, index: tf.Tensor3D | undefined): tf.Tensor4D =>
    index === undefined ? shiftRelativeAdjoint(gradient) : relativeScatter(gradient, index, [batch, heads, queries, distances]);
  const dropoutMultiplier = (like: tf.Tensor): tf.Tensor => tf.dropout(tf.onesLike(like), rate, undefined, seed);
  const soft = softMask !== undefined;
  // The soft-mask path as native/span.c kernels (wasm with the fast kernels) when both masks have a key axis of K.
  const fusedSoft =
    soft &&
    tf.getKernel(SOFT_MASKED_SOFTMAX, tf.getBackend()) !== undefined &&
    mask.shape[mask.rank - 1] === keyCount &&
    (softMask as tf.Tensor).shape[(softMask as tf.Tensor).rank - 1] === keyCount;

  // Saved, in order: qu, qv, k, v, r, the probabilities (soft mask: the visible softmax), the visibility mask (the
  // fused soft path: the hard mask, its kernel tests the soft mask itself), then
  // the position index (gather path), then the soft mask and the denominator (soft-mask path). Constants the backward
  // pass reads are saved too: closures would see them disposed.
  const core = tf.customGrad((...args) => {
    const inputs = args.slice(0, soft ? 6 : 5) as tf.Tensor[];
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [qu, qv, k, v, r] = inputs as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
    // Score-sized temporaries are disposed (or scoped) as soon as the next one exists, as in the backward pass.
    const content = scoresOp(qu, k, heads);
    const position = tf.tidy(() => positionTerm(qv, r, positionIndex));
    const scores = tf.add(content, position);
    tf.dispose([content, position]);
    const extra = gathered ? [positionIndex as tf.Tensor3D] : [];
    let probabilities: tf.Tensor;
    if (!soft) {
      probabilities = tf.tidy(() => hardMaskedForward(scores, mask));
      save([qu, qv, k, v, r, probabilities, mask, ...extra]);
    } else if (fusedSoft) {
      // One pass of native/span.c: the softmax over the visible keys, the soft mask and the renormalisation.
      const softInput = inputs[5] as tf.Tensor;
      const [output, visibleSoftmax, denominator] = tf.engine().runKernel(SOFT_MASKED_SOFTMAX, {
        scores,
        mask: tf.reshape(mask, rank4(mask.shape)),
        soft: tf.reshape(softInput, rank4(softInput.shape)),
      }) as tf.Tensor[];
      probabilities = output as tf.Tensor;
      save([qu, qv, k, v, r, visibleSoftmax as tf.Tensor, mask, ...extra, softInput, denominator as tf.Tensor]);
    } else {
      // A key whose soft mask is 0 is hidden too (maskedSoftmax's visible = mask * step(softMask)); no gradient.
      const softInput = inputs[5] as tf.Tensor;
      const visible = tf.mul(mask, tf.step(softInput));
      const pieces = tf.tidy(() => softMaskedForward(scores, visible, softInput) as unknown as tf.TensorContainer) as unknown as ReturnType<typeof softMaskedForward>;
      probabilities = pieces.output;
      save([qu, qv, k, v, r, pieces.visibleSoftmax, visible, ...extra, softInput, pieces.denominator]);
    }
    scores.dispose();
    // tf.dropout's multiplier floor(u + keep) / keep, drawn again from the same seed in the backward pass.
    const used = rate > 0 ? tf.dropout(probabilities, rate, undefined, seed) : probabilities;
    return {
      value: applyOp(used as tf.Tensor4D, v, heads),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sqU, sqV, sk, sv, sr, sProbabilities, sVisible] = saved as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D, tf.Tensor4D, tf.Tensor];
          const sIndex = gathered ? (saved[7] as tf.Tensor3D) : undefined;
          const [sSoft, sDenominator] = soft ? (saved.slice(gathered ? 8 : 7) as [tf.Tensor, tf.Tensor]) : [];
          // Each score-sized temporary is disposed once the next one exists (and the helpers' own run in scopes of
          // their own), so about three of them are alive at a time instead of every one until the pass returns.
          const upstream = dy as tf.Tensor3D;
          const gradientUsed = scoresOp(upstream, sv, heads);
          const multiplier = rate > 0 ? dropoutMultiplier(gradientUsed) : undefined;
          const gradientWeights = multiplier ? tf.mul(gradientUsed, multiplier) : gradientUsed;
          if (gradientWeights !== gradientUsed) gradientUsed.dispose();
          // The weights the values were summed with: the probabilities (soft mask: recomputed as the forward did), after
          // dropout; and the gradients of the scores and of the soft mask.
          let output: tf.Tensor;
          let gradientScores: tf.Tensor4D;
          let gradientSoft: tf.Tensor | undefined;
          if (sSoft && sDenominator && fusedSoft) {
            // One pass of native/span.c gives both gradients and the forward output again.
            const [scoresGradient, softGradient, recomputed] = tf.engine().runKernel(SOFT_MASKED_SOFTMAX_GRAD, {
              dy: gradientWeights,
              probabilities: sProbabilities,
              denominators: sDenominator,
              soft: tf.reshape(sSoft, rank4(sSoft.shape)),
            }) as tf.Tensor[];
            gradientScores = scoresGradient as tf.Tensor4D;
            gradientSoft = tf.reshape(softGradient as tf.Tensor, sSoft.shape);
            output = recomputed as tf.Tensor;
          } else if (sSoft && sDenominator) {
            output = tf.div(tf.mul(sProbabilities, sSoft), sDenominator);
            const [scoresGradient, softGradient] = tf.tidy(() => softMaskedBackward(gradientWeights, sProbabilities, sVisible, sSoft, sDenominator));
            gradientScores = scoresGradient as tf.Tensor4D;
            gradientSoft = softGradient;
          } else {
            output = sProbabilities;
            gradientScores = tf.tidy(() => hardMaskedBackward(gradientWeights, sProbabilities, sVisible)) as tf.Tensor4D;
          }
          gradientWeights.dispose();
          const weights = (multiplier ? tf.mul(output, multiplier) : output) as tf.Tensor4D;
          if (output !== sProbabilities && weights !== output) output.dispose();
          const gradientValues = applyTransposedOp(weights, upstream, heads);
          if (weights !== sProbabilities) weights.dispose();
          multiplier?.dispose();
          const gradientContentQueries = applyOp(gradientScores, sk, heads);
          const gradientKeys = applyTransposedOp(gradientScores, sqU, heads);
          const gradientRaw = tf.tidy(() => positionAdjoint(gradientScores, sIndex));
          gradientScores.dispose();
          const gradientPositionQueries = applyOp(gradientRaw, sr, heads);
          const gradientPositions = tf.tidy(() => reduceToBatch(applyTransposedOp(gradientRaw, sqV, heads), sr.shape[0]));
          gradientRaw.dispose();
          const gradients = [gradientContentQueries, gradientPositionQueries, gradientKeys, gradientValues, gradientPositions];
          return gradientSoft === undefined ? gradients : [...gradients, gradientSoft];
        }),
    };
  });
  const result = !soft
    ? core(contentQueries, positionQueries, keys, values, positions)
    : core(contentQueries, positionQueries, keys, values, positions, softMask as tf.Tensor);
  return result as tf.Tensor3D;
}

/** A broadcastable mask shape of rank <= 4 padded to rank 4 with leading 1s. */
function rank4(shape: readonly number[]): [number, number, number, number] {
  return [...Array.from({ length: 4 - shape.length }, () => 1), ...shape] as [number, number, number, number];
}

function sameShape(actual: readonly number[], expected: readonly number[]): boolean {
  return actual.length === expected.length && actual.every((size, axis) => size === expected[axis]);
}
