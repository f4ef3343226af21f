// The adaptive part of the PyTorch Transformer-XL conversion: AdaptiveEmbedding (`word_emb.emb_layers`, `emb_projs`) and ProjectedAdaptiveLogSoftmax (`crit.out_layers`, `out_projs`, `cluster_weight`, `cluster_bias`) to and from our adaptive variables.
import * as tf from '@tensorflow/tfjs';
import type { AdaptiveLayout } from '../adaptive.js';
import type { ResolvedModelConfig } from '../config.js';

/**
 * Where the official model's fixed `sqrt(d_model)` embedding scale is folded for one input table
 * (cluster `group`, or the one shared table) of a model without `scaleEmbedding`: its input
 * projection when no output projection shares it, else its table when the output weights do not
 * share it, else nowhere (null: the model cannot convert).
 */
export function scaleFoldTarget(c: ResolvedModelConfig, layout: AdaptiveLayout, group: number): 'projection' | 'table' | null {
  const clusters = layout.widths.length;
  const projectionShared = layout.shared
    ? Array.from({ length: clusters }, (_, cluster) => c.tieProjections[cluster] === true).some(Boolean)
    : c.tieProjections[group] === true;
  if (layout.projected && !projectionShared) return 'projection';
  if (!c.tieEmbeddings) return 'table';
  return null;
}

/** The input tables: one (`[0]`) when shared, else one per cluster. */
function groupsOf(layout: AdaptiveLayout): number[] {
  return layout.shared ? [0] : layout.widths.map((_, cluster) => cluster);
}

/** Our name of a per-table variable: `embedding.weight` when shared, `embedding.{i}.weight` per cluster. */
function ours(layout: AdaptiveLayout, prefix: 'embedding' | 'output', group: number, leaf: string): string {
  return layout.shared ? `${prefix}.${leaf}` : `${prefix}.${group}.${leaf}`;
}

/** Rows of table `group`: V when shared, else the cluster's size. */
function rowsOf(c: ResolvedModelConfig, layout: AdaptiveLayout, group: number): number {
  return layout.shared ? c.vocabSize : (layout.ends[group + 1] as number) - (layout.ends[group] as number);
}

/**
 * Our adaptive variables in the official layout (unprefixed names). Tables are the same `[V_i, E_i]`;
 * `emb_projs.i` `[D, E_i]` is our `[E_i, D]` transposed (PyTorch computes `e @ P^T`); `out_layers.i.weight`
 * `[V_i, E_i]` is our `[E_i, V_i]` transposed; `out_projs.i` `[D, E_i]` is ours as is (`h @ P` on
 * both sides); `cluster_weight` `[K - 1, E]` holds the tail clusters last-first (the official head
 * reads cluster i's log-probability at column `-i`), so it is our `[E, K - 1]` transposed with the
 * rows reversed, and `cluster_bias` reversed. Tied tensors are written under both names.
 */
export function adaptiveOfficialTensors(c: ResolvedModelConfig, layout: AdaptiveLayout, get: (name: string) => tf.Tensor): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  const rootD = Math.sqrt(c.modelDim);
  tf.tidy(() => {
    for (const group of groupsOf(layout)) {
      const fold = c.scaleEmbedding ? null : scaleFoldTarget(c, layout, group);
      const table = get(ours(layout, 'embedding', group, 'weight'));
      const writtenTable = fold === 'table' ? tf.div(table, rootD) : tf.clone(table);
      out[`word_emb.emb_layers.${group}.weight`] = tf.keep(writtenTable);
      if (layout.projected) {
        const projection = get(ours(layout, 'embedding', group, 'projection'));
        out[`word_emb.emb_projs.${group}`] = tf.keep(tf.transpose(fold === 'projection' ? tf.div(projection, rootD) : projection));
      }
      out[`crit.out_layers.${group}.weight`] = tf.keep(c.tieEmbeddings ? tf.clone(writtenTable) : tf.transpose(get(ours(layout, 'output', group, 'weight'))));
      out[`crit.out_layers.${group}.bias`] = tf.keep(tf.clone(get(ours(layout, 'output', group, 'bias'))));
    }
    if (layout.projected) {
      layout.widths.forEach((_, cluster) => {
        out[`crit.out_projs.${cluster}`] = tf.keep(
          c.tieProjections[cluster] === true
            ? tf.clone(out[`word_emb.emb_projs.${layout.shared ? 0 : cluster}`] as tf.Tensor)
            : tf.clone(get(`output.${cluster}.projection`)),
        );
      });
    }
    if (layout.widths.length > 1) {
      out['crit.cluster_weight'] = tf.keep(tf.reverse(tf.transpose(get('output.cluster.weight')), 0));
      out['crit.cluster_bias'] = tf.keep(tf.reverse(get('output.cluster.bias'), 0));
    }
  });
  return out;
}

/** How the importer reads the official tensors (see `assignConverted` in transformer-xl.ts). */
export interface OfficialTensorReader {
  /** A float32 copy of the named tensor, checked to have `shape` and finite values (the caller disposes it). */
  take(name: string, shape: number[]): tf.Tensor;
  /** Checks that the named tensor, when present, equals `reference` (a tied copy); throws `fix` otherwise. */
  sameIfPresent(name: string, shape: number[], reference: tf.Tensor, fix: string): void;
}

/**
 * Our adaptive variables from the official tensors (the inverse of {@link adaptiveOfficialTensors}):
 * the returned tensors are owned by the caller, under our stable names.
 */
export function adaptiveValuesFromOfficial(c: ResolvedModelConfig, layout: AdaptiveLayout, read: OfficialTensorReader): Record<string, tf.Tensor> {
  const values: Record<string, tf.Tensor> = {};
  const theirProjections: tf.Tensor[] = [];
  const D = c.modelDim;
  try {
    for (const group of groupsOf(layout)) {
      const shape = [rowsOf(c, layout, group), layout.widths[group] as number];
      const table = read.take(`word_emb.emb_layers.${group}.weight`, shape);
      values[ours(layout, 'embedding', group, 'weight')] = table;
      if (layout.projected) {
        const projection = read.take(`word_emb.emb_projs.${group}`, [D, shape[1] as number]);
        theirProjections[group] = projection;
        values[ours(layout, 'embedding', group, 'projection')] = tf.transpose(projection);
      }
      if (c.tieEmbeddings) {
        read.sameIfPresent(
          `crit.out_layers.${group}.weight`,
          shape,
          table,
          `tie_weight is true but crit.out_layers.${group}.weight differs from word_emb.emb_layers.${group}.weight; set tie_weight false in the config.`,
        );
      } else {
        const weight = read.take(`crit.out_layers.${group}.weight`, shape);
        values[ours(layout, 'output', group, 'weight')] = tf.transpose(weight);
        weight.dispose();
      }
      values[ours(layout, 'output', group, 'bias')] = read.take(`crit.out_layers.${group}.bias`, [shape[0] as number]);
    }
    if (layout.projected) {
      layout.widths.forEach((width, cluster) => {
        const name = `crit.out_projs.${cluster}`;
        if (c.tieProjections[cluster] === true) {
          const source = layout.shared ? 0 : cluster;
          read.sameIfPresent(
            name,
            [D, width],
            theirProjections[source] as tf.Tensor,
            `tie_projs[${cluster}] is true but ${name} differs from word_emb.emb_projs.${source}; set tie_projs[${cluster}] false in the config.`,
          );
        } else {
          values[`output.${cluster}.projection`] = read.take(name, [D, width]);
        }
      });
    }
    const tails = layout.widths.length - 1;
    if (tails > 0) {
      const weight = read.take('crit.cluster_weight', [tails, c.embeddingDim]);
      values['output.cluster.weight'] = tf.tidy(() => tf.transpose(tf.reverse(weight, 0)));
      weight.dispose();
      const bias = read.take('crit.cluster_bias', [tails]);
      values['output.cluster.bias'] = tf.reverse(bias, 0);
      bias.dispose();
    }
    return values;
  } catch (error) {
    tf.dispose(Object.values(values));
    throw error;
  } finally {
    tf.dispose(theirProjections.filter(Boolean));
  }
}
