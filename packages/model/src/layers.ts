// Building blocks of the model that are not attention: embedding lookup, feed-forward, seeded dropout (SPEC 2).
import * as tf from '@tensorflow/tfjs';

/**
 * Embedding lookup `table[ids]` with a scatter-add gradient (`tf.scatterND` sums duplicate ids),
 * so training works on wasm without registering `UnsortedSegmentSum` (the gradient of `tf.gather`)
 * and without a one-hot matmul (V times more arithmetic).
 * @param table `[vocab, dim]`
 * @param ids int32 `[batch, time]`
 * @returns `[batch, time, dim]`
 */
export function embeddingLookup(table: tf.Tensor2D, ids: tf.Tensor2D): tf.Tensor3D {
  const [batch, time] = ids.shape;
  const [vocab, dim] = table.shape;
  return tf.tidy(() => {
    const flat = tf.reshape(ids, [batch * time, 1]);
    const lookup = tf.customGrad((...args) => {
      const weights = args[0] as tf.Tensor2D;
      const save = args[1] as tf.GradSaveFunc;
      save([flat]);
      const value = tf.gather(weights, tf.reshape(flat, [batch * time]));
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor =>
        tf.scatterND(saved[0] as tf.Tensor, dy, [vocab, dim]);
      return { value, gradFunc };
    });
    return tf.reshape(lookup(table), [batch, time, dim]) as tf.Tensor3D;
  });
}

/** GELU, tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  });
}
