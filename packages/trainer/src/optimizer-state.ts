// Saving and restoring a TensorFlow.js optimizer exactly (Adam moments, iteration count and the running beta powers), for bit-exact resume.
import * as tf from '@tensorflow/tfjs';
import { CheckpointMismatchError, TrainerError } from './errors.js';

/** An optimizer's state as named tensors plus JSON metadata. */
export interface OptimizerSnapshot {
  /** Clones owned by the caller (dispose after writing): `${prefix}.weight.{index}`, `${prefix}.accBeta1`, ... */
  tensors: Record<string, tf.Tensor>;
  meta: OptimizerSnapshotMeta;
}

/** JSON part of an {@link OptimizerSnapshot}. */
export interface OptimizerSnapshotMeta {
  /** tfjs class name, e.g. `Adam`. */
  className: string;
  /** `optimizer.getConfig()`: learning rate at save time, betas, epsilon. */
  config: Record<string, unknown>;
  /** Names of `getWeights()` entries in order (`iter`, then first moments, then second moments). */
  weightNames: string[];
  /** Running beta powers saved (Adam, Adamax keep `beta^t` as variables updated by multiplication). */
  betaPowers: string[];
}

/**
 * tfjs Adam keeps `accBeta1 = beta1^(t+1)` as a variable multiplied by `beta1` after every
 * update, but its `setWeights` recomputes it with `pow(beta1, t + 1)`, which can differ from the
 * repeated product in the last float32 bit. To resume bit for bit, those variables are saved and
 * restored as they are. They are private fields of the tfjs classes; this reads them by name and
 * fails loudly if a tfjs version renames them.
 */
const BETA_POWER_FIELDS = ['accBeta1', 'accBeta2'] as const;

function betaPowerVariables(optimizer: tf.Optimizer): Map<string, tf.Variable> {
  const found = new Map<string, tf.Variable>();
  const className = (optimizer.constructor as unknown as { className?: string }).className ?? optimizer.getClassName();
  const record = optimizer as unknown as Record<string, unknown>;
  for (const field of BETA_POWER_FIELDS) {
    const value = record[field];
    if (value instanceof tf.Variable) found.set(field, value);
  }
  if ((className === 'Adam' || className === 'Adamax') && !found.has('accBeta1')) {
    throw new TrainerError(
      `optimizer state: the tfjs ${className} optimizer has no accBeta1 variable; this tfjs version changed its internals, ` +
        'so the beta powers cannot be saved exactly. Use @tensorflow/tfjs 4.22.0.',
    );
  }
  return found;
}

/**
 * Captures an optimizer's state. Tensors are clones owned by the caller.
 * @param prefix name prefix of the tensors, e.g. `main` or `separate`
 */
export async function captureOptimizerState(optimizer: tf.Optimizer, prefix: string): Promise<OptimizerSnapshot> {
  const weights = await optimizer.getWeights();
  const tensors: Record<string, tf.Tensor> = {};
  const weightNames: string[] = [];
  weights.forEach((weight, index) => {
    tensors[`${prefix}.weight.${index}`] = tf.clone(weight.tensor);
    weightNames.push(weight.name);
  });
  // getWeights() creates a new scalar for the iteration count (the first entry); the rest are the live moments.
  const iterations = weights[0];
  if (iterations !== undefined && iterations.name === 'iter') iterations.tensor.dispose();
  const betaPowers: string[] = [];
  for (const [field, variable] of betaPowerVariables(optimizer)) {
    tensors[`${prefix}.${field}`] = tf.clone(variable);
    betaPowers.push(field);
  }
  return {
    tensors,
    meta: {
      className: optimizer.getClassName(),
      config: optimizer.getConfig() as Record<string, unknown>,
      weightNames,
      betaPowers,
    },
  };
}

/**
 * Restores a state captured by {@link captureOptimizerState} into a FRESH optimizer of the same
 * class (one that has not applied any gradient yet). Does not take ownership of `tensors`.
 */
export async function restoreOptimizerState(
  optimizer: tf.Optimizer,
  snapshot: OptimizerSnapshot,
  prefix: string,
  checkpointPath = 'checkpoint',
): Promise<void> {
  const { meta, tensors } = snapshot;
  if (meta.className !== optimizer.getClassName()) {
    throw new CheckpointMismatchError(
      checkpointPath,
      `the ${prefix} optimizer was saved as ${meta.className}, the run uses ${optimizer.getClassName()}; resume with the same optimizer.`,
    );
  }
  const existing = await optimizer.getWeights();
  const iterations = existing[0];
  if (iterations !== undefined && iterations.name === 'iter') iterations.tensor.dispose();
  if (existing.length > 1 || optimizer.iterations > 0) {
    throw new TrainerError(
      `restoreOptimizerState: the ${prefix} optimizer has already applied updates; restore into a freshly created optimizer.`,
    );
  }
  const named: { name: string; tensor: tf.Tensor }[] = meta.weightNames.map((name, index) => {
    const tensor = tensors[`${prefix}.weight.${index}`];
    if (tensor === undefined) {
      throw new CheckpointMismatchError(checkpointPath, `optimizer tensor ${prefix}.weight.${index} (${name}) is missing.`);
    }
    return { name, tensor };
  });
  // setWeights turns each given tensor into a variable sharing its data, so hand it clones it can own.
  const owned = named.map(({ name, tensor }) => ({ name, tensor: tf.clone(tensor) }));
  await optimizer.setWeights(owned);
  for (const { tensor } of owned) tensor.dispose();
  const powers = betaPowerVariables(optimizer);
  for (const field of meta.betaPowers) {
    const saved = tensors[`${prefix}.${field}`];
    const variable = powers.get(field);
    if (saved === undefined || variable === undefined) {
      throw new CheckpointMismatchError(checkpointPath, `optimizer beta power ${prefix}.${field} is missing.`);
    }
    variable.assign(saved);
  }
}

/**
 * Sets the learning rate an optimizer uses for its next update. tfjs Adam, Adamax, Adagrad,
 * Adadelta and RMSProp read the `learningRate` field on every `applyGradients`; SGD and Momentum
 * cache it as a tensor, refreshed through their `setLearningRate` method.
 */
export function setLearningRate(optimizer: tf.Optimizer, learningRate: number): void {
  const record = optimizer as unknown as { learningRate?: unknown; setLearningRate?: (value: number) => void };
  // SGD and Momentum cache -learningRate as a tensor: their own setter refreshes it.
  if (typeof record.setLearningRate === 'function') {
    record.setLearningRate(learningRate);
    return;
  }
  if (typeof record.learningRate !== 'number') {
    throw new TrainerError(
      `setLearningRate: the ${optimizer.getClassName()} optimizer has no numeric learningRate field, so the schedule cannot drive it.`,
    );
  }
  record.learningRate = learningRate;
}
