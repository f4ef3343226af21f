// Fused position-wise feed-forward with ReLU, `relu(x W1 + b1) W2 + b2`, as one taped op that saves only x, the weights and the hidden activation (SPEC 2).
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors.js';
import { productGradients } from './matmul.js';
import { assertDtype, assertTensor, describeShape } from './validate.js';

/**
 * `relu(x @ inner + innerBias) @ outer + outerBias` with the gradients of the unfused ops (the products' gradients
 * from `matMul`, ReLU's `dy * step(x)` read off the saved activation, bias gradients summed over rows). The unfused
 * ops keep three `[N, F]` tensors per layer for the backward pass (the biased product, the ReLU input and its output)
 * and three `[N, F]` gradients until the backward pass ends; this op saves one (the activation) and frees its
 * intermediates before the next layer's backward runs.
 * @param x float32 `[N, D]`
 * @param inner float32 `[D, F]`
 * @param innerBias float32 `[F]`
 * @param outer float32 `[F, D']`
 * @param outerBias float32 `[D']`
 * @returns `[N, D']`
 */
export function feedForwardRelu(x: tf.Tensor2D, inner: tf.Tensor2D, innerBias: tf.Tensor1D, outer: tf.Tensor2D, outerBias: tf.Tensor1D): tf.Tensor2D {
  const operation = 'feedForwardRelu';
  assertTensor(operation, 'x', x, 2, '[rows, D]');
  assertTensor(operation, 'inner', inner, 2, '[D, F]');
  assertTensor(operation, 'innerBias', innerBias, 1, '[F]');
  assertTensor(operation, 'outer', outer, 2, '[F, D\']');
  assertTensor(operation, 'outerBias', outerBias, 1, '[D\']');
  for (const [name, tensor] of [['x', x], ['inner', inner], ['innerBias', innerBias], ['outer', outer], ['outerBias', outerBias]] as const) {
    assertDtype(operation, name, tensor, ['float32']);
  }
  const hidden = inner.shape[1];
  const checks: Array<[string, tf.Tensor, boolean, string]> = [
    ['inner', inner, inner.shape[0] === x.shape[1], `[${x.shape[1]}, F] (rows = the last axis of x)`],
    ['innerBias', innerBias, innerBias.shape[0] === hidden, `[${hidden}]`],
    ['outer', outer, outer.shape[0] === hidden, `[${hidden}, D']`],
    ['outerBias', outerBias, outerBias.shape[0] === outer.shape[1], `[${outer.shape[1]}]`],
  ];
  for (const [name, tensor, ok, expected] of checks) {
    if (!ok) throw new InvalidArgumentError({ operation, parameter: name, expected, actual: describeShape(tensor.shape) });
  }
  const fused = tf.customGrad((...args) => {
    const [input, w1, b1, w2, b2, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.GradSaveFunc];
    // Each [N, F] temporary is disposed once the next exists: two alive at a time, not three.
    const product = tf.matMul(input, w1);
    const biased = tf.add(product, b1);
    product.dispose();
    const activation = tf.relu(biased) as tf.Tensor2D;
    biased.dispose();
    save([input, w1, w2, activation]);
    return {
      value: tf.add(tf.matMul(activation, w2), b2) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [savedInput, savedInner, savedOuter, savedActivation] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
          const upstream = dy as tf.Tensor2D;
          const gradientOuterBias = tf.sum(upstream, 0);
          const [gradientActivation, gradientOuter] = productGradients(upstream, savedActivation, savedOuter);
          // ReLU's gradient dy * step(x): the activation is positive exactly where its input is.
          const gradientHidden = tf.mul(gradientActivation, tf.step(savedActivation)) as tf.Tensor2D;
          const gradientInnerBias = tf.sum(gradientHidden, 0);
          const [gradientInput, gradientInner] = productGradients(gradientHidden, savedInput, savedInner);
          return [gradientInput, gradientInner, gradientInnerBias, gradientOuter, gradientOuterBias];
        }),
    };
  });
  return fused(x, inner, innerBias, outer, outerBias) as tf.Tensor2D;
}
