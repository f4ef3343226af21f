// The compressor training losses of SPEC 3.2 (Rae et al. 2019, section 3.2): attention reconstruction and auto-encoding.
import * as tf from '@tensorflow/tfjs';
import { type ContentAttention, type QueryBoundAttention, uniqueVariableName } from '@engram/memory';
import { InvalidCompressorInputError } from './errors.js';
import { outsideTape } from './tape.js';

/** How the compressor of a compressive policy is trained (SPEC 3.2). */
export type CompressionTraining = 'none' | 'attention-reconstruction' | 'auto-encoding' | 'bptt';

/** Every training mode, in SPEC order. */
export const COMPRESSION_TRAINING_MODES: readonly CompressionTraining[] = [
  'none',
  'attention-reconstruction',
  'auto-encoding',
  'bptt',
];

/**
 * Attention-reconstruction loss of one layer (SPEC 3.2):
 * `mean( (A(h, old) - A(h, compressed))^2 )` over every element, with `A` the layer's content-only attention
 * (its own projections and pre-norm, no position terms, no mask, no output projection).
 *
 * The gradient reaches `compressed` (hence f_c) only: the projections inside `A` are held constant even when the
 * gradient is taken over every variable of the model. The target `A(h, old)`, the value `L` and its gradient
 * `g = dL/dcompressed` are computed off the enclosing gradient tape; the enclosing tape records one node,
 * `compressed -> L` with gradient `dy * g` ({@link linearisedAt}).
 *
 * With `projected` (and an attention offering `forProjectedQueries` and `attendProjected`), the queries and the
 * target `A(h, old)` come from the forward pass's projections instead of projecting `h` and `old` again: the same
 * value when they were made with the same weights (the model computes this loss before its update).
 * When `attention` offers {@link ContentAttention.forQueries}, the queries of `h` (norm, projection, scale) are
 * prepared once and shared by the target, the reconstruction and its gradient; a plain function is called twice
 * (target and reconstruction), with the same value and gradient. When the prepared attention also offers
 * `attendWithGradient`, `g` is its hand-written backward pass of `A` for the upstream gradient
 * `2 (A(h, compressed) - A(h, old)) / size`; otherwise a nested gradient of the loss on a tape of its own
 * ({@link keyValueOnlyGradient}).
 * @param attention content attention of the layer
 * @param queryInput `h`, the current segment's layer input `[batch, T, D]` (detached)
 * @param old the evicted memories `[batch, n, D]` (detached)
 * @param compressed `f_c(old)` `[batch, n / c, D]`
 * @param projected optional projections of `h` and `old` from the forward pass ({@link ProjectedTarget})
 * @returns scalar mean squared error
 */
export function attentionReconstructionLoss(
  attention: ContentAttention,
  queryInput: tf.Tensor3D,
  old: tf.Tensor3D,
  compressed: tf.Tensor3D,
  projected?: ProjectedTarget,
): tf.Scalar {
  const forProjected = attention.forProjectedQueries;
  const fromForward = projected !== undefined && forProjected !== undefined ? { projected, forProjected } : null;
  const bound = outsideTape(() =>
    fromForward ? fromForward.forProjected(fromForward.projected.queries) : bindQueries(attention, queryInput),
  );
  try {
    return tf.tidy(() => {
      const target = outsideTape(() =>
        fromForward && bound.attendProjected
          ? bound.attendProjected(fromForward.projected.keys, fromForward.projected.values)
          : bound.attend(old),
      );
      const checkShape = (reconstruction: tf.Tensor): void => {
        if (target.shape.join() !== reconstruction.shape.join()) {
          throw new InvalidCompressorInputError({
            operation: 'attentionReconstructionLoss',
            parameter: 'attention',
            expected: 'a content attention returning [batch, queries, D] whatever the number of keys',
            actual: `[${target.shape.join(', ')}] for the evicted memories and [${reconstruction.shape.join(', ')}] for the compressed ones`,
          });
        }
      };
      if (bound.attendWithGradient) {
        const attendWithGradient = bound.attendWithGradient.bind(bound);
        const { value, slope } = outsideTape(() => {
          // d mean((r - t)^2) / dr = 2 (r - t) / size, r = A(h, compressed).
          const { output, keyValueGradient } = attendWithGradient(compressed, (reconstruction) => {
            checkShape(reconstruction);
            return tf.mul(tf.sub(reconstruction, target), 2 / target.size) as tf.Tensor3D;
          });
          return { value: tf.mean(tf.squaredDifference(target, output)) as tf.Scalar, slope: keyValueGradient };
        });
        return linearisedAt(compressed, value, slope);
      }
      const lossOf = (keys: tf.Tensor): tf.Scalar => {
        const reconstruction = bound.attend(keys as tf.Tensor3D);
        checkShape(reconstruction);
        return tf.mean(tf.squaredDifference(target, reconstruction)) as tf.Scalar;
      };
      return keyValueOnlyGradient(lossOf, compressed);
    });
  } finally {
    bound.dispose();
  }
}

/**
 * What the forward pass already projected for one layer's loss ({@link attentionReconstructionLoss}): `queries`
 * `Q(h)` `[batch, T, D]` (pre-norm and projection, unscaled) and `keys` `K(old)`, `values` `V(old)` `[batch, n, D]`
 * of the evicted memories, rows of the record's `attentionProjections` made with the weights the loss uses.
 */
export interface ProjectedTarget {
  queries: tf.Tensor3D;
  keys: tf.Tensor3D;
  values: tf.Tensor3D;
}

/** `attention.forQueries(h)` when offered, else `x -> attention(h, x)` with nothing to release. */
function bindQueries(attention: ContentAttention, queryInput: tf.Tensor3D): QueryBoundAttention {
  if (attention.forQueries) return attention.forQueries(queryInput);
  return { attend: (keyValueInput) => attention(queryInput, keyValueInput), dispose: () => undefined };
}

/**
 * `lossOf(keys)` whose gradient flows into `keys` only, never into variables `lossOf` reads (see
 * {@link attentionReconstructionLoss}). Works inside an enclosing gradient computation (the model's) and outside.
 *
 * `lossOf` and its gradient with respect to `keys` run off the enclosing tape ({@link outsideTape}), so the enclosing
 * backward pass never walks through them and none of their tensors is saved for it; the result is
 * {@link linearisedAt} of `L = lossOf(keys)` and its slope `dL/dkeys`.
 * @param lossOf scalar function of `keys`
 * @param keys any float32 tensor
 */
export function keyValueOnlyGradient(lossOf: (keys: tf.Tensor) => tf.Scalar, keys: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const { value, grads } = outsideTape(() => tf.valueAndGrads(lossOf)([keys]));
    return linearisedAt(keys, value, grads[0] as tf.Tensor);
  });
}

/**
 * One recorded operation of `keys` whose value is `value` and whose gradient is `dy * slope` (the slope is computed
 * once, in the forward pass, with the values `keys` has then): the only node a loss computed off the tape leaves on
 * the enclosing one. Outside a gradient computation it is a copy of `value`.
 * @param keys the tensor the gradient flows into, any shape
 * @param value scalar loss
 * @param slope `dvalue/dkeys`, shaped like `keys` (kept for the backward pass; the caller's tidy scope owns it)
 */
function linearisedAt(keys: tf.Tensor, value: tf.Scalar, slope: tf.Tensor): tf.Scalar {
  const linearised = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    (inputs[1] as tf.GradSaveFunc)([slope]);
    return {
      value: tf.clone(value),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, saved[0] as tf.Tensor)],
    };
  });
  return linearised(keys) as tf.Scalar;
}

/**
 * The learned linear decoder g of the auto-encoding loss: each compressed slot `[D]` is mapped to the `c` memories
 * it summarises (`[c*D]`): `g(x) = x @ weight + bias`, weight `[D, c*D]` (Glorot uniform), bias `[c*D]` (zeros).
 */
export class LinearDecoder {
  readonly rate: number;
  readonly modelDim: number;
  readonly weight: tf.Variable<tf.Rank.R2>;
  readonly bias: tf.Variable<tf.Rank.R1>;

  constructor(options: { modelDim: number; rate: number; seed: number; namePrefix: string }) {
    const { modelDim, rate, seed, namePrefix } = options;
    this.rate = rate;
    this.modelDim = modelDim;
    const limit = Math.sqrt(6 / (modelDim + rate * modelDim));
    const initialWeight = tf.randomUniform([modelDim, rate * modelDim], -limit, limit, 'float32', seed);
    this.weight = tf.variable(initialWeight, true, uniqueVariableName(`${namePrefix}.weight`)) as tf.Variable<tf.Rank.R2>;
    initialWeight.dispose();
    const initialBias = tf.zeros([rate * modelDim]);
    this.bias = tf.variable(initialBias, true, uniqueVariableName(`${namePrefix}.bias`)) as tf.Variable<tf.Rank.R1>;
    initialBias.dispose();
  }

  /**
   * Decodes compressed slots back to memories.
   * @param compressed `[batch, k, D]`
   * @returns `[batch, k * c, D]`: slot j gives memories `j*c .. j*c + c - 1`
   */
  decode(compressed: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [batch, slots, width] = compressed.shape;
      const flat = tf.reshape(compressed, [batch * slots, width]);
      const decoded = tf.add(tf.matMul(flat, this.weight), this.bias);
      return tf.reshape(decoded, [batch, slots * this.rate, width]) as tf.Tensor3D;
    });
  }

  variables(): tf.Variable[] {
    return [this.weight, this.bias];
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}

/**
 * Auto-encoding loss of one layer (SPEC 3.2): `mean( (old - g(f_c(old)))^2 )` over every element.
 * @param old the evicted memories `[batch, n, D]` (detached)
 * @param compressed `f_c(old)` `[batch, n / c, D]`
 * @param decoder the layer's decoder g
 * @returns scalar mean squared error
 */
export function autoEncodingLoss(old: tf.Tensor3D, compressed: tf.Tensor3D, decoder: LinearDecoder): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(old, decoder.decode(compressed))) as tf.Scalar);
}
