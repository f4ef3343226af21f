// The softmax cross-entropy wasm kernels of native/loss.c on the tfjs heap: per-token loss and log-sum-exp in one pass, and its gradient.
import type * as tf from '@tensorflow/tfjs';
import { LOSS_WASM_BASE64 } from '../wasm/loss-binary.js';
import { heapModule, heapOffset } from './wasm-backend.js';

/** `logits` `[N, V]` float32, `targets` int32 `[N]` -> `[losses [N], logSumExp [N]]` in nats (0 for a target outside `[0, V)`). */
export const SOFTMAX_CROSS_ENTROPY = 'EngramSoftmaxCrossEntropy';
/** `dy` `[N]`, `logits` `[N, V]`, `logSumExp` `[N]`, `targets` int32 `[N]` -> gradient of the logits `[N, V]`. */
export const SOFTMAX_CROSS_ENTROPY_GRAD = 'EngramSoftmaxCrossEntropyGrad';

const lossModule = heapModule(LOSS_WASM_BASE64, 'the cross-entropy kernels', {
  rowStats: 'softmax_row_stats_f32',
  grad: 'softmax_cross_entropy_grad_f32',
});

function checkRows(kernel: string, logits: tf.TensorInfo | undefined, targets: tf.TensorInfo | undefined): [number, number] {
  if (logits?.dtype !== 'float32' || logits.shape.length !== 2 || targets?.dtype !== 'int32' || targets.shape.length !== 1 || targets.shape[0] !== logits.shape[0]) {
    throw new Error(
      `@engram/kernels: ${kernel} needs float32 logits [N, V] and int32 targets [N], got ${logits ? `${logits.dtype} [${logits.shape.join(', ')}]` : 'none'} and ${targets ? `${targets.dtype} [${targets.shape.join(', ')}]` : 'none'}.`,
    );
  }
  return logits.shape as [number, number];
}

/**
 * Forward: the row maxima and sums of exponentials on SIMD, then per row (host numbers on the heap, no read-back)
 * `lse = max + log(sum)` and `loss = lse - logits[n, target]`.
 */
export const softmaxCrossEntropyKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { logits, targets } = inputs as Record<string, tf.TensorInfo>;
  const [rows, vocabulary] = checkRows(SOFTMAX_CROSS_ENTROPY, logits, targets);
  const wasm = lossModule(backend);
  const losses = wasm.backend.makeOutput([rows], 'float32');
  const logSumExp = wasm.backend.makeOutput([rows], 'float32');
  if (rows === 0) return [losses, logSumExp];
  const at = (info: tf.TensorInfo): number => heapOffset(wasm.backend, info);
  // The maxima go into `losses` and the sums into `logSumExp`; both are then overwritten in place.
  wasm.rowStats(rows, vocabulary, at(logits as tf.TensorInfo), at(losses), at(logSumExp));
  const buffer = wasm.backend.wasm.asm.memory.buffer as ArrayBuffer;
  const x = new Float32Array(buffer, at(logits as tf.TensorInfo), rows * vocabulary);
  const ids = new Int32Array(buffer, at(targets as tf.TensorInfo), rows);
  const lossValues = new Float32Array(buffer, at(losses), rows);
  const lseValues = new Float32Array(buffer, at(logSumExp), rows);
  for (let row = 0; row < rows; row++) {
    const lse = Math.fround((lossValues[row] as number) + Math.log(lseValues[row] as number));
    const target = ids[row] as number;
    lseValues[row] = lse;
    lossValues[row] = target >= 0 && target < vocabulary ? lse - (x[row * vocabulary + target] as number) : 0;
  }
  return [losses, logSumExp];
};

export const softmaxCrossEntropyGradKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { dy, logits, logSumExp, targets } = inputs as Record<string, tf.TensorInfo>;
  const [rows, vocabulary] = checkRows(SOFTMAX_CROSS_ENTROPY_GRAD, logits, targets);
  const wasm = lossModule(backend);
  const grad = wasm.backend.makeOutput([rows, vocabulary], 'float32');
  if (rows * vocabulary === 0) return grad;
  const at = (info: tf.TensorInfo): number => heapOffset(wasm.backend, info);
  wasm.grad(rows, vocabulary, at(logits as tf.TensorInfo), at(logSumExp as tf.TensorInfo), at(targets as tf.TensorInfo), at(dy as tf.TensorInfo), at(grad));
  return grad;
};
