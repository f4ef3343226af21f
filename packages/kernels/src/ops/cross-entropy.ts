// Per-token softmax cross-entropy in nats from integer targets (SPEC 2 output, SPEC 7 loss).
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';
import { SOFTMAX_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY_GRAD } from '../kernels/loss-kernels.js';
import { assertDtype, assertTensor, describeShape } from './validate.js';

/**
 * `-log softmax(logits)[n, targets[n]]` for every row. On wasm with Engram's kernels registered: one kernel forward
 * (row maxima and sums of exponentials on SIMD, then log-sum-exp minus the picked logit) and one backward
 * (`dy (softmax - one-hot)`), saving only the logits and the log-sum-exp `[N]`. Elsewhere: `tf.logSoftmax` (stable
 * for large logits) and a one-hot product (its gradient needs no `UnsortedSegmentSum`, so it works on wasm without
 * registration); the two agree to float rounding.
 * Reads `targets` back synchronously to reject values outside `[0, V)`, unless `options.checkTargets` is false (a
 * caller that counts out-of-range targets on the device itself, as the model does, to keep host reads off the
 * training step; an out-of-range target then picks nothing and its row's loss is 0). (The one-hot is built as int32 and cast:
 * tfjs-backend-wasm 4.22 `oneHot(..., 'float32')` writes int32 bit patterns into the float output.)
 * @param logits `[N, V]` float32
 * @param targets int32 `[N]` with values in `[0, V)`
 * @param options.checkTargets default true
 * @returns `[N]` losses in nats
 */
export function sparseSoftmaxCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D, options: { checkTargets?: boolean } = {}): tf.Tensor1D {
  const operation = 'sparseSoftmaxCrossEntropy';
  assertTensor(operation, 'logits', logits, 2, '[rows, vocabulary]');
  assertDtype(operation, 'logits', logits, ['float32']);
  assertTensor(operation, 'targets', targets, 1, '[rows]');
  assertDtype(operation, 'targets', targets, ['int32']);
  const [rows, vocabulary] = logits.shape;
  if (targets.shape[0] !== rows) {
    throw new InvalidArgumentError({
      operation,
      parameter: 'targets',
      expected: `shape [${rows}] (one target per row of logits, ${describeShape(logits.shape)})`,
      actual: describeShape(targets.shape),
    });
  }
  const values = options.checkTargets === false ? [] : targets.dataSync();
  for (let row = 0; row < values.length; row++) {
    const value = values[row] as number;
    if (value < 0 || value >= vocabulary) {
      throw new InvalidArgumentError({
        operation,
        parameter: 'targets',
        expected: `values in [0, ${vocabulary}) (the vocabulary size)`,
        actual: `${value} at row ${row}`,
      });
    }
  }
  return tf.tidy(() => {
    if (rows === 0) return tf.zeros([0]) as tf.Tensor1D;
    if (tf.getBackend() === 'wasm' && tf.getKernel(SOFTMAX_CROSS_ENTROPY, 'wasm') !== undefined) return fusedCrossEntropy(logits, targets);
    const logProbabilities = tf.logSoftmax(logits);
    const picked = tf.sum(tf.mul(logProbabilities, tf.cast(tf.oneHot(targets, vocabulary), 'float32')), -1);
    return tf.neg(picked) as tf.Tensor1D;
  });
}

/** The fused path of {@link sparseSoftmaxCrossEntropy} (wasm kernels of native/loss.c), one taped op of `logits`. */
function fusedCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  const lossOf = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const [losses, logSumExp] = tf.engine().runKernel(SOFTMAX_CROSS_ENTROPY, { logits: input, targets }) as tf.Tensor[];
    save([input, logSumExp as tf.Tensor, targets]);
    return {
      value: losses as tf.Tensor1D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedLogits, savedLogSumExp, savedTargets] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        return [tf.engine().runKernel(SOFTMAX_CROSS_ENTROPY_GRAD, { dy, logits: savedLogits, logSumExp: savedLogSumExp, targets: savedTargets }) as tf.Tensor];
      },
    };
  });
  return lossOf(logits) as tf.Tensor1D;
}
