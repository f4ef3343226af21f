// Fused clip + Adam and the clip's global norm: the wasm kernels of native/adam.c on the tfjs heap, and an AdamOptimizer that dispatches them.
import * as tf from '@tensorflow/tfjs';
import { ADAM_WASM_BASE64 } from '../wasm/adam-binary.js';
import { clipFactor, GLOBAL_NORM, globalGradientNorm } from '../ops/gradient.js';
import { asWasmHeapBackend, heapOffset, type WasmHeapBackend } from './wasm-backend.js';
import { isSharedMemory, webAssembly, type WasmInstance } from './webassembly.js';

/** Kernel name of the fused update (registered for `wasm` with the fast kernels). */
export const FUSED_ADAM = 'EngramFusedAdam';

/** Attributes of {@link FUSED_ADAM}: every value is rounded to float32 by the kernel, as tfjs rounds its scalars. */
export interface FusedAdamAttrs {
  /** Gradient factor (the global-norm clip factor; 1 when not clipping). */
  scale: number;
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** What `Optimizer.applyGradients` takes: a name -> gradient map or a list of `{ name, tensor }`. */
type VariableGradients = Parameters<tf.Optimizer['applyGradients']>[0];
type NamedGradient = Extract<VariableGradients, unknown[]>[number];

type AdamUpdate = (...args: number[]) => void;

/** The exports of native/adam.c on one backend's heap. */
interface HeapAdam {
  backend: WasmHeapBackend;
  update: AdamUpdate;
  /** `sum_of_squares_f32(n, x)`: the sum of x[i]^2 over n floats at heap offset x, in double. */
  sumOfSquares: (n: number, x: number) => number;
}

let heapAdam: HeapAdam | null = null;

function adamFor(backend: unknown): HeapAdam {
  if (heapAdam !== null && heapAdam.backend === backend) return heapAdam;
  const heap = asWasmHeapBackend(backend, 'the fused Adam kernel');
  const memory = heap.wasm.asm.memory;
  if (isSharedMemory(memory)) {
    throw new Error('@engram/kernels: the fused Adam kernel needs the unshared heap of the single-threaded SIMD tfjs binary.');
  }
  const text = atob(ADAM_WASM_BASE64);
  const bytes = Uint8Array.from(text, (character) => character.charCodeAt(0));
  // 1 KB: synchronous compilation is allowed everywhere (browsers refuse it above 4 KB on the main thread).
  const api = webAssembly();
  const instance: WasmInstance = new api.Instance(new api.Module(bytes), { env: { memory } });
  heapAdam = {
    backend: heap,
    update: instance.exports.adam_f32 as AdamUpdate,
    sumOfSquares: instance.exports.sum_of_squares_f32 as HeapAdam['sumOfSquares'],
  };
  return heapAdam;
}

/**
 * {@link GLOBAL_NORM} on the heap: inputs `{ 0: x0, 1: x1, ... }` (float32, any shapes) -> the float32 scalar
 * `sqrt(sum_t sum_i x_t[i]^2)`, each tensor's squares summed in double by `sum_of_squares_f32` and the tensors' sums
 * added in double, so the one rounding to float32 is the last.
 */
export const globalNormKernel: tf.KernelFunc = ({ inputs, backend }) => {
  const { sumOfSquares } = adamFor(backend);
  const heap = backend as unknown as WasmHeapBackend;
  let total = 0;
  for (const info of Object.values(inputs) as tf.TensorInfo[]) {
    if (info.dtype !== 'float32') throw new Error(`@engram/kernels: ${GLOBAL_NORM} needs float32 inputs, got ${info.dtype}.`);
    const n = tf.util.sizeFromShape(info.shape);
    if (n > 0) total += sumOfSquares(n, heapOffset(heap, info));
  }
  const output = heap.makeOutput([], 'float32');
  new Float32Array(heap.wasm.asm.memory.buffer, heapOffset(heap, output), 1)[0] = Math.sqrt(total);
  return output;
};

/**
 * inputs `{ param, gradient, m, v }` (float32, one shape), `{ accBeta1, accBeta2 }` (float32 scalars beta^t) ->
 * `[param', m', v']` of param's shape, per element in float32:
 * `g = gradient * scale; m' = m beta1 + g (1 - beta1); v' = v beta2 + g^2 (1 - beta2);
 *  param' = (m' / (1 - accBeta1)) / (sqrt(v' / (1 - accBeta2)) + epsilon) * -learningRate + param`.
 */
export const fusedAdamKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { param, gradient, m, v, accBeta1, accBeta2 } = inputs as Record<string, tf.TensorInfo>;
  const { scale, learningRate, beta1, beta2, epsilon } = attrs as unknown as FusedAdamAttrs;
  const { update } = adamFor(backend);
  const heap = backend as unknown as WasmHeapBackend;
  const all = [param, gradient, m, v, accBeta1, accBeta2] as tf.TensorInfo[];
  if (all.some((info) => info === undefined || info.dtype !== 'float32')) {
    throw new Error(`@engram/kernels: ${FUSED_ADAM} needs float32 param, gradient, m, v, accBeta1 and accBeta2 inputs.`);
  }
  const n = tf.util.sizeFromShape((param as tf.TensorInfo).shape);
  for (const info of [gradient, m, v] as tf.TensorInfo[]) {
    if (tf.util.sizeFromShape(info.shape) !== n) {
      throw new Error(`@engram/kernels: ${FUSED_ADAM}: shape [${info.shape}] does not match the parameter's [${param?.shape}].`);
    }
  }
  const outputs = [0, 1, 2].map(() => heap.makeOutput([...(param as tf.TensorInfo).shape], 'float32'));
  if (n > 0) {
    const at = (info: tf.TensorInfo): number => heapOffset(heap, info);
    update(
      n,
      at(param as tf.TensorInfo),
      at(gradient as tf.TensorInfo),
      at(m as tf.TensorInfo),
      at(v as tf.TensorInfo),
      at(outputs[0] as tf.TensorInfo),
      at(outputs[1] as tf.TensorInfo),
      at(outputs[2] as tf.TensorInfo),
      at(accBeta1 as tf.TensorInfo),
      at(accBeta2 as tf.TensorInfo),
      scale,
      learningRate,
      beta1,
      Math.fround(1 - beta1),
      beta2,
      Math.fround(1 - beta2),
      epsilon,
    );
  }
  return outputs;
};

/** The fields of tfjs 4.22's AdamOptimizer this subclass reads (private there; the state layout stays theirs). */
interface AdamState {
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
}

/**
 * `tf.AdamOptimizer` whose update runs as one fused wasm dispatch per variable (param, m and v together) when the
 * active backend is `wasm` and the fast kernels are registered (`registerFastKernels`), and as the stock ops
 * elsewhere. Same state variables, names, weights and config as the stock optimizer (checkpoints interchange), and
 * the same float32 results. `applyScaledGradients` also folds a gradient factor (the clip) into the same pass.
 */
export class FusedAdamOptimizer extends tf.AdamOptimizer {
  /** True when the next update will use the fused kernel. */
  static fusedActive(): boolean {
    return tf.getBackend() === 'wasm' && tf.getKernel(FUSED_ADAM, 'wasm') !== undefined;
  }

  override applyGradients(variableGradients: VariableGradients): void {
    this.applyScaledGradients(variableGradients, 1);
  }

  /** Adam on `gradient * scale` for every variable (scale: a host number, e.g. the clip factor maxNorm / norm). */
  applyScaledGradients(variableGradients: VariableGradients, scale: number): void {
    // A missing gradient (null) skips its variable, as in the stock optimizer.
    const list: NamedGradient[] = Array.isArray(variableGradients)
      ? variableGradients.map(({ name, tensor }) => ({ name, tensor }))
      : Object.keys(variableGradients).map((name) => ({ name, tensor: variableGradients[name] as tf.Tensor }));
    const fused =
      FusedAdamOptimizer.fusedActive() &&
      list.every(({ name, tensor }) => (tensor === undefined || tensor === null || tensor.dtype === 'float32') && tf.engine().registeredVariables[name]?.dtype === 'float32');
    if (!fused) {
      if (scale === 1) {
        super.applyGradients(variableGradients as Parameters<tf.AdamOptimizer['applyGradients']>[0]);
        return;
      }
      applyScaledStock((gradients) => super.applyGradients(gradients as Parameters<tf.AdamOptimizer['applyGradients']>[0]), list, scale);
      return;
    }
    const state = this as unknown as AdamState;
    const attrs: FusedAdamAttrs = { scale, learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
    tf.tidy(() => {
      list.forEach(({ name, tensor }, index) => {
        const value = tf.engine().registeredVariables[name] as tf.Variable;
        // Moments are created lazily and indexed by position, exactly as the stock optimizer does.
        state.accumulatedFirstMoment[index] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        state.accumulatedSecondMoment[index] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
        if (tensor === undefined || tensor === null) return;
        const m = state.accumulatedFirstMoment[index].variable;
        const v = state.accumulatedSecondMoment[index].variable;
        const [param, m1, v1] = tf.engine().runKernel(
          FUSED_ADAM,
          { param: value, gradient: tensor, m, v, accBeta1: state.accBeta1, accBeta2: state.accBeta2 },
          attrs as unknown as tf.NamedAttrMap,
        ) as tf.Tensor[];
        m.assign(m1 as tf.Tensor);
        v.assign(v1 as tf.Tensor);
        value.assign(param as tf.Tensor);
      });
      state.accBeta1.assign(tf.mul(state.accBeta1, this.beta1));
      state.accBeta2.assign(tf.mul(state.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }
}

/** `apply` on copies of the gradients multiplied by `scale` (as float32, as clipByGlobalNorm scales them). */
function applyScaledStock(apply: (gradients: NamedGradient[]) => void, list: NamedGradient[], scale: number): void {
  const scaled = tf.tidy(() =>
    list.map(({ name, tensor }) => ({ name, tensor: tensor ? tf.mul(tensor, tf.scalar(scale, tensor.dtype)) : tensor })),
  );
  try {
    apply(scaled);
  } finally {
    tf.dispose(scaled.map(({ tensor }) => tensor).filter((tensor): tensor is tf.Tensor => tensor !== null && tensor !== undefined));
  }
}

/** Result of {@link clipAndApplyGradients}. */
export interface ClipAndApplyResult {
  /** Global norm of the gradients before clipping. */
  globalNorm: number;
  /** Whether the optimizer applied them (`shouldApply(globalNorm)`). */
  applied: boolean;
}

/**
 * Clips `gradients` by global norm `maxNorm` (SPEC 7; 0 or Infinity: no clip) and applies them with `optimizer`
 * when `shouldApply(globalNorm)` says so (the non-finite guard). A {@link FusedAdamOptimizer} folds the clip factor
 * into its fused update; any other optimizer gets scaled copies. The gradients stay the caller's (never disposed).
 * Reads one number (the norm) from the device.
 * @param gradients variable name -> gradient of that variable's shape
 */
export function clipAndApplyGradients(
  optimizer: tf.Optimizer,
  gradients: Record<string, tf.Tensor>,
  maxNorm: number,
  shouldApply: (globalNorm: number) => boolean = () => true,
): ClipAndApplyResult {
  const globalNorm = globalGradientNorm(gradients);
  const applied = shouldApply(globalNorm);
  if (!applied) return { globalNorm, applied };
  const scale = clipFactor(globalNorm, maxNorm);
  // Not instanceof: tf.Optimizer's Symbol.hasInstance accepts any optimizer-shaped object.
  const fused = optimizer as Partial<Pick<FusedAdamOptimizer, 'applyScaledGradients'>>;
  if (typeof fused.applyScaledGradients === 'function') fused.applyScaledGradients.call(optimizer, gradients, scale);
  else if (scale === 1) optimizer.applyGradients(gradients);
  else applyScaledStock((scaled) => optimizer.applyGradients(scaled), Object.entries(gradients).map(([name, tensor]) => ({ name, tensor })), scale);
  return { globalNorm, applied };
}
