// Adaptive input embeddings and adaptive softmax over vocabulary clusters, with the semantics of the official Transformer-XL's AdaptiveEmbedding and ProjectedAdaptiveLogSoftmax.
import * as tf from '@tensorflow/tfjs';
import { matMul } from '@engram/kernels';
import type { ResolvedModelConfig } from './config.js';
import { embeddingLookup } from './layers.js';

/**
 * How a config splits the vocabulary. Cluster i holds the token ids `ends[i] .. ends[i + 1] - 1`;
 * K = `widths.length` clusters; cluster 0 is the head's shortlist.
 */
export interface AdaptiveLayout {
  /** Cluster boundaries `[0, ...cutoffs, V]` (length K + 1). */
  ends: number[];
  /** Table width E_i of each cluster: `floor(E / divisor^i)`, or E for every cluster with divisor 1. */
  widths: number[];
  /** One table `[V, E]` for every cluster (divisor 1) instead of one per cluster. */
  shared: boolean;
  /** Whether tables are projected to and from modelDim (divisor > 1, or E != modelDim). */
  projected: boolean;
}

/** The layout of a config, or null for the plain model (no cutoffs, divisor 1, embeddingDim == modelDim). */
export function adaptiveLayout(c: ResolvedModelConfig): AdaptiveLayout | null {
  const shared = c.embeddingDivisor === 1;
  const projected = !shared || c.embeddingDim !== c.modelDim;
  if (c.cutoffs.length === 0 && !projected) return null;
  return {
    ends: [0, ...c.cutoffs, c.vocabSize],
    widths: Array.from({ length: c.cutoffs.length + 1 }, (_, index) => Math.floor(c.embeddingDim / c.embeddingDivisor ** index)),
    shared,
    projected,
  };
}

/** The tensors an adaptive embedding and softmax compute with (tied ones already transposed). */
export interface AdaptiveWeights {
  /** Input tables: one `[V, E]` when shared, else per cluster `[V_i, E_i]`. */
  tables: tf.Tensor2D[];
  /** Input projections, one per table, `[E_i, D]` (empty when not projected). */
  inputProjections: tf.Tensor2D[];
  /** Output weights: one `[E, V]` when shared, else per cluster `[E_i, V_i]`. */
  outputWeights: tf.Tensor2D[];
  /** Output biases: one `[V]` when shared, else per cluster `[V_i]`. */
  outputBiases: tf.Tensor1D[];
  /** Output projections, one per cluster (also when shared), `[D, E_i]` (empty when not projected). */
  outputProjections: tf.Tensor2D[];
  /** `[E_0, K - 1]`: column j scores tail cluster j + 1 in the head; null with one cluster. */
  clusterWeight: tf.Tensor2D | null;
  /** `[K - 1]`, null with one cluster. */
  clusterBias: tf.Tensor1D | null;
}

/**
 * Adaptive input embedding (unscaled): token t of cluster i becomes `table_i[t - ends[i]] @ P_i`.
 * @param ids int32 `[batch, T]`
 * @returns `[batch, T, D]`
 */
export function adaptiveEmbed(layout: AdaptiveLayout, weights: AdaptiveWeights, ids: tf.Tensor2D, modelDim: number): tf.Tensor3D {
  const [batch, time] = ids.shape;
  return tf.tidy(() => {
    if (layout.shared) {
      const table = weights.tables[0] as tf.Tensor2D;
      const looked = embeddingLookup(table, ids);
      if (!layout.projected) return looked;
      const flat = tf.reshape(looked, [batch * time, table.shape[1]]) as tf.Tensor2D;
      return tf.reshape(matMul(flat, weights.inputProjections[0] as tf.Tensor2D), [batch, time, modelDim]) as tf.Tensor3D;
    }
    const flatIds = tf.reshape(ids, [batch * time, 1]) as tf.Tensor2D;
    const parts = weights.tables.map((table, cluster) => {
      const start = layout.ends[cluster] as number;
      const end = layout.ends[cluster + 1] as number;
      // Every token looks up a clipped row; the mask keeps the rows of this cluster's tokens only.
      const local = tf.cast(tf.clipByValue(tf.sub(ids, start), 0, end - start - 1), 'int32') as tf.Tensor2D;
      const rows = tf.reshape(embeddingLookup(table, local), [batch * time, table.shape[1]]) as tf.Tensor2D;
      const projected = matMul(rows, weights.inputProjections[cluster] as tf.Tensor2D);
      const inside = tf.cast(tf.logicalAnd(tf.greaterEqual(flatIds, start), tf.less(flatIds, end)), 'float32');
      return tf.mul(projected, inside);
    });
    return tf.reshape(tf.addN(parts), [batch, time, modelDim]) as tf.Tensor3D;
  });
}

/** `x - logsumexp(x)` over the last axis of `[N, C]`. */
function logSoftmaxRows(x: tf.Tensor2D): tf.Tensor2D {
  return tf.sub(x, tf.logSumExp(x, 1, true));
}

/**
 * Adaptive softmax: the log-probability of every token. The head scores the shortlist (cluster 0)
 * and one logit per tail cluster; a tail token's log-probability is its cluster's head
 * log-probability plus its log-softmax inside the cluster:
 * `log p(t) = log softmax(head)[c(t)] + log softmax(h_i @ W_i + b_i)[t - ends[i]]`, where
 * `h_i = hidden @ Q_i` (the cluster's output projection, when projected).
 * @param hidden `[N, D]`
 * @returns `[N, V]` log-probabilities (each row's exponentials sum to 1)
 */
export function adaptiveLogProbabilities(layout: AdaptiveLayout, weights: AdaptiveWeights, hidden: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const clusters = layout.widths.length;
    const rows = hidden.shape[0];
    const shortlist = layout.ends[1] as number;
    const head = headLogProbabilities(layout, weights, hidden);
    if (clusters === 1) return head;
    const parts: tf.Tensor2D[] = [tf.slice(head, [0, 0], [rows, shortlist]) as tf.Tensor2D];
    for (let cluster = 1; cluster < clusters; cluster++) {
      const inCluster = logSoftmaxRows(clusterScores(layout, weights, projectedInput(layout, weights, hidden, cluster), cluster));
      const clusterLogProbability = tf.slice(head, [0, shortlist + cluster - 1], [rows, 1]);
      parts.push(tf.add(inCluster, clusterLogProbability));
    }
    return tf.concat(parts, 1) as tf.Tensor2D;
  });
}

/**
 * The hidden states as cluster `cluster`'s output sees them: `hidden @ Q_i` when projected.
 * @param hidden `[N, D]`
 * @returns `[N, E_i]`
 */
function projectedInput(layout: AdaptiveLayout, weights: AdaptiveWeights, hidden: tf.Tensor2D, cluster: number): tf.Tensor2D {
  return layout.projected ? matMul(hidden, weights.outputProjections[cluster] as tf.Tensor2D) : hidden;
}

/**
 * The scores of cluster `cluster`'s own tokens (no cluster logits): `input @ W_i + b_i`.
 * @param input `[N, E_i]` (see {@link projectedInput})
 * @returns `[N, V_i]`
 */
function clusterScores(layout: AdaptiveLayout, weights: AdaptiveWeights, input: tf.Tensor2D, cluster: number): tf.Tensor2D {
  const start = layout.ends[cluster] as number;
  const size = (layout.ends[cluster + 1] as number) - start;
  const width = layout.widths[cluster] as number;
  const weight = layout.shared ? (tf.slice(weights.outputWeights[0] as tf.Tensor2D, [0, start], [width, size]) as tf.Tensor2D) : (weights.outputWeights[cluster] as tf.Tensor2D);
  const bias = layout.shared ? (tf.slice(weights.outputBiases[0] as tf.Tensor1D, [start], [size]) as tf.Tensor1D) : (weights.outputBiases[cluster] as tf.Tensor1D);
  return tf.add(matMul(input, weight), bias);
}

/**
 * The head's log-softmax: the shortlist's tokens, then one column per tail cluster (column
 * `V_0 + i - 1` for cluster i).
 * @param hidden `[N, D]`
 * @returns `[N, V_0 + K - 1]`
 */
function headLogProbabilities(layout: AdaptiveLayout, weights: AdaptiveWeights, hidden: tf.Tensor2D): tf.Tensor2D {
  const input = projectedInput(layout, weights, hidden, 0);
  const scores = clusterScores(layout, weights, input, 0);
  if (!weights.clusterWeight || !weights.clusterBias) return logSoftmaxRows(scores);
  const clusterLogits = tf.add(matMul(input, weights.clusterWeight), weights.clusterBias);
  return logSoftmaxRows(tf.concat([scores, clusterLogits], 1) as tf.Tensor2D);
}

/** Row `index` of `[rows, columns]` (differentiable through {@link embeddingLookup}'s scatter-add). */
function gatherRows(x: tf.Tensor2D, index: Int32Array): tf.Tensor2D {
  const ids = tf.tensor2d(index, [1, index.length], 'int32');
  return tf.reshape(embeddingLookup(x, ids), [index.length, x.shape[1]]) as tf.Tensor2D;
}

/**
 * The log-probability of each row's target only, without the `[N, V]` matrix: the head's
 * log-softmax for every row, plus, for the rows whose target lies in tail cluster i, that
 * cluster's log-softmax computed on those rows alone. Equal to picking the targets out of
 * {@link adaptiveLogProbabilities} (and so are its gradients), at the cost of the head plus
 * `sum_i n_i * V_i` instead of `N * V`.
 * @param hidden `[N, D]`
 * @param targets int32 `[N]`, token ids in `[0, V)` (read on the CPU to split the rows by cluster)
 * @returns `[N]` log-probabilities
 */
export function adaptiveTargetLogProbabilities(layout: AdaptiveLayout, weights: AdaptiveWeights, hidden: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const rows = hidden.shape[0];
    const ids = targets.dataSync();
    const clusters = layout.widths.length;
    const shortlist = layout.ends[1] as number;
    // Cluster of each target; -1 outside [0, V) (its value is then meaningless, never a throw: callers check the range).
    const clusterOf = (token: number): number => {
      if (!(token >= 0 && token < (layout.ends[clusters] as number))) return -1;
      let cluster = 0;
      while (token >= (layout.ends[cluster + 1] as number)) cluster++;
      return cluster;
    };
    const tokenCluster = Int32Array.from(ids, clusterOf);
    // Head column of each target: the token itself in the shortlist, else its cluster's column (-1: a zero one-hot row).
    const headColumns = Int32Array.from(ids, (token, row) => {
      const cluster = tokenCluster[row] as number;
      return cluster <= 0 ? (cluster === 0 ? token : -1) : shortlist + cluster - 1;
    });
    const head = headLogProbabilities(layout, weights, hidden);
    let result = tf.sum(tf.mul(head, tf.oneHot(tf.tensor1d(headColumns, 'int32'), head.shape[1])), 1) as tf.Tensor1D;
    for (let cluster = 1; cluster < clusters; cluster++) {
      const members = Int32Array.from(Array.from(tokenCluster).flatMap((value, row) => (value === cluster ? [row] : [])));
      if (members.length === 0) continue;
      const start = layout.ends[cluster] as number;
      const size = (layout.ends[cluster + 1] as number) - start;
      const local = tf.tensor1d(Int32Array.from(members, (row) => (ids[row] as number) - start), 'int32');
      const inCluster = logSoftmaxRows(clusterScores(layout, weights, projectedInput(layout, weights, gatherRows(hidden, members), cluster), cluster));
      const picked = tf.sum(tf.mul(inCluster, tf.oneHot(local, size)), 1, true) as tf.Tensor2D;
      // Back to all N rows: rows outside the cluster read the appended zero.
      const slot = new Int32Array(rows).fill(members.length);
      members.forEach((row, position) => {
        slot[row] = position;
      });
      const padded = tf.concat([picked, tf.zeros([1, 1])], 0) as tf.Tensor2D;
      result = tf.add(result, tf.reshape(gatherRows(padded, slot), [rows]));
    }
    return result;
  });
}

/** The learned variables of an adaptive embedding and softmax, under the model's stable names (see the README). */
export interface AdaptiveVariables {
  /** `embedding.weight` `[V, E]` (shared) or `embedding.{i}.weight` `[V_i, E_i]`. */
  tables: tf.Variable[];
  /** `embedding.projection` `[E, D]` (shared) or `embedding.{i}.projection` `[E_i, D]`; empty when not projected. */
  inputProjections: tf.Variable[];
  /** `output.weight` `[E, V]` (shared) or `output.{i}.weight` `[E_i, V_i]`; empty when tieEmbeddings. */
  outputWeights: tf.Variable[];
  /** `output.bias` `[V]` (shared) or `output.{i}.bias` `[V_i]`. */
  outputBiases: tf.Variable[];
  /** Per cluster `output.{i}.projection` `[D, E_i]`, null where tieProjections[i] (or not projected: empty). */
  outputProjections: Array<tf.Variable | null>;
  /** `output.cluster.weight` `[E, K - 1]`, null with one cluster. */
  clusterWeight: tf.Variable | null;
  /** `output.cluster.bias` `[K - 1]`, null with one cluster. */
  clusterBias: tf.Variable | null;
}

/** Makes a named variable: `matrix` draws the model's seeded normal initialisation, `constant` fills. */
export interface VariableMaker {
  matrix(name: string, shape: number[]): tf.Variable;
  constant(name: string, shape: number[], value: number): tf.Variable;
}

/** Creates the input side (tables, projections) of an adaptive model. */
export function createAdaptiveInput(layout: AdaptiveLayout, c: ResolvedModelConfig, make: VariableMaker): Pick<AdaptiveVariables, 'tables' | 'inputProjections'> {
  const clusters = layout.shared ? [0] : layout.widths.map((_, index) => index);
  const prefix = (cluster: number): string => (layout.shared ? 'embedding' : `embedding.${cluster}`);
  const size = (cluster: number): number => (layout.shared ? c.vocabSize : (layout.ends[cluster + 1] as number) - (layout.ends[cluster] as number));
  return {
    tables: clusters.map((cluster) => make.matrix(`${prefix(cluster)}.weight`, [size(cluster), layout.widths[cluster] as number])),
    inputProjections: layout.projected ? clusters.map((cluster) => make.matrix(`${prefix(cluster)}.projection`, [layout.widths[cluster] as number, c.modelDim])) : [],
  };
}

/** Creates the output side (weights unless tied, biases, projections unless tied, cluster logits) of an adaptive model. */
export function createAdaptiveOutput(layout: AdaptiveLayout, c: ResolvedModelConfig, make: VariableMaker): Omit<AdaptiveVariables, 'tables' | 'inputProjections'> {
  const clusters = layout.widths.map((_, index) => index);
  const tables = layout.shared ? [0] : clusters;
  const prefix = (cluster: number): string => (layout.shared ? 'output' : `output.${cluster}`);
  const size = (cluster: number): number => (layout.shared ? c.vocabSize : (layout.ends[cluster + 1] as number) - (layout.ends[cluster] as number));
  const tails = clusters.length - 1;
  return {
    outputWeights: c.tieEmbeddings ? [] : tables.map((cluster) => make.matrix(`${prefix(cluster)}.weight`, [layout.widths[cluster] as number, size(cluster)])),
    outputBiases: tables.map((cluster) => make.constant(`${prefix(cluster)}.bias`, [size(cluster)], 0)),
    outputProjections: layout.projected
      ? clusters.map((cluster) => (c.tieProjections[cluster] ? null : make.matrix(`output.${cluster}.projection`, [c.modelDim, layout.widths[cluster] as number])))
      : [],
    clusterWeight: tails > 0 ? make.matrix('output.cluster.weight', [c.embeddingDim, tails]) : null,
    clusterBias: tails > 0 ? make.constant('output.cluster.bias', [tails], 0) : null,
  };
}

/** The tensors to compute with: tied output weights and projections are the transposed input ones (call inside a tidy or tape). */
export function adaptiveWeights(layout: AdaptiveLayout, variables: AdaptiveVariables): AdaptiveWeights {
  const tables = variables.tables as tf.Tensor2D[];
  const inputProjections = variables.inputProjections as tf.Tensor2D[];
  return {
    tables,
    inputProjections,
    outputWeights: variables.outputWeights.length > 0 ? (variables.outputWeights as tf.Tensor2D[]) : tables.map((table) => tf.transpose(table)),
    outputBiases: variables.outputBiases as tf.Tensor1D[],
    outputProjections: variables.outputProjections.map(
      (projection, cluster) => (projection ?? tf.transpose(inputProjections[layout.shared ? 0 : cluster] as tf.Tensor2D)) as tf.Tensor2D,
    ),
    clusterWeight: variables.clusterWeight as tf.Tensor2D | null,
    clusterBias: variables.clusterBias as tf.Tensor1D | null,
  };
}
