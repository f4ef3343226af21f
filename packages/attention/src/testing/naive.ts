// The slow, obvious O(T*K*D) reference of relative attention (SPEC 2.2), written with plain loops for tests.
import type * as tf from '@tensorflow/tfjs';
import type { AttentionInput, RelativeAttention } from '../relative-attention.js';

/** Plain-array result of {@link naiveRelativeAttention}. */
export interface NaiveAttentionResult {
  /** `[batch][T][modelDim]` after the output projection. */
  output: number[][][];
  /** `[batch][heads][T][K]`. */
  probabilities: number[][][][];
}

type Matrix = number[][];

function toMatrix(variable: tf.Tensor): Matrix {
  return variable.arraySync() as Matrix;
}

/** `row @ W` for a row vector and `W` `[in, out]`. */
function vectorTimes(row: readonly number[], weight: Matrix): number[] {
  const out = new Array<number>(weight[0]?.length ?? 0).fill(0);
  row.forEach((x, input) => {
    const weights = weight[input] as number[];
    for (let column = 0; column < out.length; column++) out[column] = (out[column] as number) + x * (weights[column] as number);
  });
  return out;
}

/** R(delta): sin then cos of `delta * w_k`, `w_k = 1 / 10000^(2k / D)`, computed directly with Math.sin/cos. */
function sinusoid(delta: number, dim: number): number[] {
  const half = dim / 2;
  const sines: number[] = [];
  const cosines: number[] = [];
  for (let k = 0; k < half; k++) {
    const angle = delta / Math.pow(10000, (2 * k) / dim);
    sines.push(Math.sin(angle));
    cosines.push(Math.cos(angle));
  }
  return [...sines, ...cosines];
}

/**
 * Relative attention computed pair by pair from the formula of SPEC 2.2, with the same weights as
 * `attention`: for every batch row, head, query i and key j with `t_j <= t_i`,
 * `s_ij = [ (q_i + u) . k_j + (q_i + v) . W_r R(min(t_i - t_j, clampLength)) ] / sqrt(d)`
 * (no clamp when `clampLength <= 0`); with `window`, keys at distance `>= window` are hidden too;
 * softmax over visible keys (and keys whose soft mask is > 0), then with a soft mask
 * `a <- m a / (sum m a + 1e-8)`; a row with no visible key gives zeros. Ignores `contiguous`
 * (there is only one way here) and dropout.
 */
export function naiveRelativeAttention(attention: RelativeAttention, input: AttentionInput): NaiveAttentionResult {
  const { modelDim, numHeads, headDim, clampLength } = attention;
  const queries = input.queries.arraySync() as number[][][];
  const keys = input.keys.arraySync() as number[][][];
  const queryPositions = input.queryPositions.arraySync() as number[][];
  const keyPositions = input.keyPositions.arraySync() as number[][];
  const softMask = input.softMask?.arraySync() as number[][][][] | undefined;
  const [wq, wk, wv, wo, wr] = [attention.query, attention.key, attention.value, attention.output, attention.position].map(toMatrix) as [
    Matrix,
    Matrix,
    Matrix,
    Matrix,
    Matrix,
  ];
  const u = toMatrix(attention.positionBiases.u);
  const v = toMatrix(attention.positionBiases.v);
  const projectedDistance = new Map<number, number[]>();
  const positionVector = (delta: number): number[] => {
    let projected = projectedDistance.get(delta);
    if (!projected) {
      projected = vectorTimes(sinusoid(delta, modelDim), wr);
      projectedDistance.set(delta, projected);
    }
    return projected;
  };
  const at = <T>(rows: T[], index: number): T => (rows.length === 1 ? rows[0] : rows[index]) as T;
  const output: number[][][] = [];
  const probabilities: number[][][][] = [];
  queries.forEach((queryRows, b) => {
    const q = queryRows.map((row) => vectorTimes(row, wq));
    const k = (keys[b] as number[][]).map((row) => vectorTimes(row, wk));
    const values = (keys[b] as number[][]).map((row) => vectorTimes(row, wv));
    const qPos = at(queryPositions, b);
    const kPos = at(keyPositions, b);
    const batchProbabilities: number[][][] = [];
    const merged: number[][] = q.map(() => new Array<number>(modelDim).fill(0));
    for (let h = 0; h < numHeads; h++) {
      const headProbabilities: number[][] = [];
      q.forEach((queryVector, i) => {
        const scores: number[] = [];
        const visible: boolean[] = [];
        const mask: number[] = [];
        k.forEach((keyVector, j) => {
          const distance = (qPos[i] as number) - (kPos[j] as number);
          const softValue = softMask ? at(at(at(at(softMask, b), h), i), j) : 1;
          mask.push(softValue);
          const inWindow = input.window === undefined || distance < input.window;
          visible.push(distance >= 0 && inWindow && softValue > 0);
          const clamped = clampLength > 0 ? Math.min(Math.max(distance, 0), clampLength) : Math.max(distance, 0);
          const r = positionVector(clamped);
          let score = 0;
          for (let c = 0; c < headDim; c++) {
            const column = h * headDim + c;
            const qc = queryVector[column] as number;
            score += (qc + (u[h]?.[c] as number)) * (keyVector[column] as number);
            score += (qc + (v[h]?.[c] as number)) * (r[column] as number);
          }
          scores.push(score / Math.sqrt(headDim));
        });
        const maximum = Math.max(...scores.filter((_, j) => visible[j]));
        let row = scores.map((score, j) => (visible[j] ? Math.exp(score - maximum) : 0));
        const total = row.reduce((sum, x) => sum + x, 0);
        row = total > 0 ? row.map((x) => x / total) : row.map(() => 0);
        if (softMask) {
          const weighted = row.map((a, j) => a * (mask[j] as number));
          const weightedTotal = weighted.reduce((sum, x) => sum + x, 0);
          row = weighted.map((x) => x / (weightedTotal + 1e-8));
        }
        headProbabilities.push(row);
        row.forEach((a, j) => {
          for (let c = 0; c < headDim; c++) {
            const column = h * headDim + c;
            (merged[i] as number[])[column] = ((merged[i] as number[])[column] as number) + a * ((values[j] as number[])[column] as number);
          }
        });
      });
      batchProbabilities.push(headProbabilities);
    }
    probabilities.push(batchProbabilities);
    output.push(merged.map((row) => vectorTimes(row, wo)));
  });
  return { output, probabilities };
}
