// Adam with the papers' defaults (SPEC 7), one fused kernel per variable where the backend has it (wasm), tfjs's own update elsewhere.
import * as tf from '@tensorflow/tfjs';
import { ModelInputError } from './errors.js';

/** Kernel name registered by `@engram/kernels` (`registerMissingKernels`) for wasm. */
const ADAM_UPDATE = 'EngramAdamUpdate';

/** What `applyGradients` takes (tfjs's `NamedVariableMap | NamedTensor[]`, which tfjs does not export by name). */
type VariableGradients = Parameters<tf.AdamOptimizer['applyGradients']>[0];

/** Options of {@link createAdam}. */
export interface AdamOptions {
  learningRate: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8 (PyTorch's, as in the papers' runs; tfjs defaults to 1e-7). */
  epsilon?: number;
}

interface MomentSlot {
  originalName: string;
  variable: tf.Variable;
}

/** The private fields of tfjs 4.22's AdamOptimizer this class updates (same state, so checkpoints are unchanged). */
interface AdamInternals {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: (MomentSlot | undefined)[];
  accumulatedSecondMoment: (MomentSlot | undefined)[];
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
  incrementIterations(): void;
}

/**
 * tfjs's `AdamOptimizer` (class name `Adam`, same state, same `getWeights`/`setWeights`, same results bit for
 * bit) whose update runs one `EngramAdamUpdate` kernel per variable instead of 13 kernels, when the current
 * backend has that kernel; otherwise tfjs's own update runs.
 */
export class FusedAdamOptimizer extends tf.AdamOptimizer {
  override applyGradients(variableGradients: VariableGradients): void {
    if (tf.getKernel(ADAM_UPDATE, tf.getBackend()) === undefined) {
      super.applyGradients(variableGradients);
      return;
    }
    const self = this as unknown as AdamInternals;
    const names = Array.isArray(variableGradients) ? variableGradients.map((entry) => entry.name) : Object.keys(variableGradients);
    tf.tidy(() => {
      // The bias corrections, in float32 as tfjs computes `sub(1, accBeta)`.
      const [oneMinusAccBeta1, oneMinusAccBeta2] = tf.sub(1, tf.stack([self.accBeta1, self.accBeta2])).dataSync() as Float32Array;
      names.forEach((name, index) => {
        const value = tf.engine().registeredVariables[name] as tf.Variable;
        const zeros = (suffix: string): MomentSlot => ({ originalName: `${name}/${suffix}`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) });
        self.accumulatedFirstMoment[index] ??= zeros('m');
        self.accumulatedSecondMoment[index] ??= zeros('v');
        const gradient = Array.isArray(variableGradients) ? variableGradients[index]?.tensor : (variableGradients as tf.NamedTensorMap)[name];
        if (gradient == null) return;
        const first = (self.accumulatedFirstMoment[index] as MomentSlot).variable;
        const second = (self.accumulatedSecondMoment[index] as MomentSlot).variable;
        const [newValue, newFirst, newSecond] = tf.engine().runKernel(
          ADAM_UPDATE,
          { value, gradient, firstMoment: first, secondMoment: second },
          {
            beta1: self.beta1,
            beta2: self.beta2,
            oneMinusBeta1: 1 - self.beta1,
            oneMinusBeta2: 1 - self.beta2,
            oneMinusAccBeta1: oneMinusAccBeta1 as number,
            oneMinusAccBeta2: oneMinusAccBeta2 as number,
            epsilon: self.epsilon,
            negativeLearningRate: -self.learningRate,
            gradientScale: 1,
          },
        ) as tf.Tensor[];
        first.assign(newFirst as tf.Tensor);
        second.assign(newSecond as tf.Tensor);
        value.assign(newValue as tf.Tensor);
      });
      self.accBeta1.assign(tf.mul(self.accBeta1, self.beta1));
      self.accBeta2.assign(tf.mul(self.accBeta2, self.beta2));
    });
    self.incrementIterations();
  }
}

/** Adam with the papers' defaults (SPEC 7). Set `optimizer.learningRate` between steps for schedules. */
export function createAdam(options: AdamOptions): tf.AdamOptimizer {
  if (!options || typeof options.learningRate !== 'number' || !(options.learningRate > 0)) {
    throw new ModelInputError(`createAdam: learningRate must be a number > 0, got ${JSON.stringify(options?.learningRate)}.`);
  }
  return new FusedAdamOptimizer(options.learningRate, options.beta1 ?? 0.9, options.beta2 ?? 0.999, options.epsilon ?? 1e-8);
}
