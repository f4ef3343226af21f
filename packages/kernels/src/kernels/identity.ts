// Identity for the wasm backend that shares the input's buffer (reference count) instead of copying it, as the cpu backend does.
import * as tf from '@tensorflow/tfjs';

interface ReferenceCountingBackend {
  incRef(dataId: tf.DataId): void;
}

/**
 * tfjs calls Identity for `tf.clone`, for every saved tensor and output of a `tf.customGrad` and for gradients
 * passed through unchanged: about 240 calls and 55 MB copied per tiny training step with the stock wasm kernel,
 * which copies the whole buffer. Tensors are immutable in tfjs (variables change by `assign`, which swaps the
 * buffer), so the output may share the input's buffer: the backend keeps it alive until both are disposed.
 */
export const sharedIdentityKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs.x as tf.TensorInfo;
  (backend as unknown as ReferenceCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};
