// One fused Adam update of a variable for the wasm backend (Kingma & Ba 2015, as tfjs 4.22 computes it), a single JS pass over heap memory.
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend } from './wasm-backend.js';

/** Kernel name of the fused Adam update (inputs `value`, `gradient`, `firstMoment`, `secondMoment`; three outputs). */
export const ADAM_UPDATE = 'EngramAdamUpdate';

/**
 * Attributes of {@link ADAM_UPDATE}. Every number is used as the float32 scalar tfjs would make of it, so the
 * result equals tfjs's `AdamOptimizer` bit for bit (each operation is rounded to float32 as its kernels do).
 */
export interface AdamUpdateAttrs {
  beta1: number;
  beta2: number;
  /** `1 - beta1` computed in double precision, as tfjs passes it. */
  oneMinusBeta1: number;
  oneMinusBeta2: number;
  /** `1 - accBeta1` computed in float32 from the optimizer's running power `beta1^t`. */
  oneMinusAccBeta1: number;
  oneMinusAccBeta2: number;
  epsilon: number;
  /** `-learningRate`. */
  negativeLearningRate: number;
  /** Multiplies the gradient first (global-norm clipping); 1 leaves it as it is. */
  gradientScale: number;
}

const f32 = Math.fround;

/**
 * Outputs `[value', m', v']` for float32 tensors of one shape:
 * `g = s * gradient` (skipped when s = 1), `m' = b1 m + (1 - b1) g`, `v' = b2 v + (1 - b2) g^2`,
 * `value' = value - lr (m' / (1 - b1^t)) / (sqrt(v' / (1 - b2^t)) + eps)`.
 * The stock tfjs update runs 13 kernels per variable (each a pass over the tensor plus a dispatch).
 */
export const adamUpdateKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = asWasmBackend(backend, ADAM_UPDATE);
  const valueInfo = inputs.value as tf.TensorInfo;
  const gradientInfo = inputs.gradient as tf.TensorInfo;
  const firstInfo = inputs.firstMoment as tf.TensorInfo;
  const secondInfo = inputs.secondMoment as tf.TensorInfo;
  const a = attrs as unknown as AdamUpdateAttrs;
  const newValueInfo = wasm.makeOutput(valueInfo.shape, 'float32');
  const newFirstInfo = wasm.makeOutput(valueInfo.shape, 'float32');
  const newSecondInfo = wasm.makeOutput(valueInfo.shape, 'float32');
  // Views are taken after makeOutput: allocation may grow (and detach) the heap.
  const value = wasm.typedArrayFromHeap(valueInfo) as Float32Array;
  const gradient = wasm.typedArrayFromHeap(gradientInfo) as Float32Array;
  const first = wasm.typedArrayFromHeap(firstInfo) as Float32Array;
  const second = wasm.typedArrayFromHeap(secondInfo) as Float32Array;
  const newValue = wasm.typedArrayFromHeap(newValueInfo) as Float32Array;
  const newFirst = wasm.typedArrayFromHeap(newFirstInfo) as Float32Array;
  const newSecond = wasm.typedArrayFromHeap(newSecondInfo) as Float32Array;
  const beta1 = f32(a.beta1);
  const beta2 = f32(a.beta2);
  const oneMinusBeta1 = f32(a.oneMinusBeta1);
  const oneMinusBeta2 = f32(a.oneMinusBeta2);
  const correction1 = f32(a.oneMinusAccBeta1);
  const correction2 = f32(a.oneMinusAccBeta2);
  const epsilon = f32(a.epsilon);
  const step = f32(a.negativeLearningRate);
  const scale = f32(a.gradientScale);
  const scaled = scale !== 1;
  for (let index = 0; index < value.length; index++) {
    const g = scaled ? f32((gradient[index] as number) * scale) : (gradient[index] as number);
    const m = f32(f32((first[index] as number) * beta1) + f32(g * oneMinusBeta1));
    const v = f32(f32((second[index] as number) * beta2) + f32(f32(g * g) * oneMinusBeta2));
    newFirst[index] = m;
    newSecond[index] = v;
    const correctedFirst = f32(m / correction1);
    const correctedSecond = f32(v / correction2);
    const ratio = f32(correctedFirst / f32(f32(Math.sqrt(correctedSecond)) + epsilon));
    newValue[index] = f32(f32(ratio * step) + (value[index] as number));
  }
  return [newValueInfo, newFirstInfo, newSecondInfo];
};
