// Reverse-mode gradients on tfjs's tape that free every intermediate gradient and saved tensor as soon as the backward pass is past it.
import * as tf from '@tensorflow/tfjs';

/** One recorded op of tfjs's tape (the fields this module reads; `tf.engine()` internals of tfjs 4). */
interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, tf.Tensor>;
  outputs: tf.Tensor[];
  saved?: tf.Tensor[];
  gradient?: (dys: Array<tf.Tensor | null>) => Record<string, () => tf.Tensor>;
}

type AddTapeNode = (kernelName: string, inputs: Record<string, tf.Tensor>, outputs: tf.Tensor[], gradient: unknown, saved: tf.Tensor[], attrs: unknown) => void;

interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  backend: { incRef(dataId: tf.DataId): void };
  addTapeNode: AddTapeNode;
  clone(x: tf.Tensor): tf.Tensor;
  makeTensorFromTensorInfo(info: tf.TensorInfo): tf.Tensor;
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
}

/**
 * Kernels whose tfjs 4 gradient reads its saved tensors' shapes only (`reshape(dy, x.shape)`, the broadcast sums of
 * add and sub, concat's split sizes, slice's and pad's offsets): their saved copies are disposed as soon as the op
 * is recorded (a disposed tensor keeps its shape). That frees data no other tensor holds (an add's operands, a
 * reshape's source) and the bytes `tf.profile` and `tf.memory()` count for every copy (tfjs counts each tensor
 * object, views and copies of one buffer included).
 */
const SHAPE_ONLY_GRADIENTS = new Set<string>([tf.Reshape, tf.Add, tf.Sub, tf.Concat, tf.Slice, tf.ExpandDims, tf.PadV2]);

/**
 * The nodes of `tape` (in tape order) that depend on one of `sources` and that `result` depends on, each with only
 * the inputs that depend on a source (the ones a gradient flows to).
 */
function nodesBetween(tape: readonly TapeNode[], sources: readonly tf.Tensor[], result: tf.Tensor): TapeNode[] {
  const fromSources = new Set(sources.map((tensor) => tensor.id));
  const reachedFromSources = new Set<number>();
  for (const node of tape) {
    if (Object.values(node.inputs).some((input) => fromSources.has(input.id))) {
      reachedFromSources.add(node.id);
      for (const output of node.outputs) fromSources.add(output.id);
    }
  }
  const towardsResult = new Set([result.id]);
  const reachesResult = new Set<number>();
  for (let index = tape.length - 1; index >= 0; index--) {
    const node = tape[index] as TapeNode;
    if (node.outputs.some((output) => towardsResult.has(output.id))) {
      reachesResult.add(node.id);
      for (const input of Object.values(node.inputs)) towardsResult.add(input.id);
    }
  }
  const between: TapeNode[] = [];
  for (const node of tape) {
    if (!reachedFromSources.has(node.id) || !reachesResult.has(node.id)) continue;
    const inputs: Record<string, tf.Tensor> = {};
    for (const [name, input] of Object.entries(node.inputs)) if (fromSources.has(input.id)) inputs[name] = input;
    between.push({ ...node, inputs });
  }
  return between;
}

/**
 * `tf.engine().gradients(f, sources, dy, true)` with the same gradient functions, in the same order, so the same
 * values, but a smaller peak: tfjs keeps the gradient of every intermediate tensor and every tensor saved for the
 * backward pass until the whole backward pass ends, while here each op's saved tensors and its outputs' gradients
 * are disposed right after its gradient ran (every consumer of an output comes later on the tape, so its gradient
 * is complete by then), the saved tensors of ops no gradient flows through are disposed after the forward pass, and
 * the copies saved for shape-only gradients ({@link SHAPE_ONLY_GRADIENTS}) as soon as they are made.
 * Inside another gradient computation (higher-order gradients) saved tensors are left to the outer one.
 * @param f the scalar (or any tensor: seeded with ones, or `dy`) to differentiate
 * @param sources the tensors to differentiate with respect to
 * @param dy the seed gradient, shape of `f`'s result (default ones); never disposed here
 * @returns `value` (f's result) and one gradient per source (null where `f` does not depend on it), owned by the caller
 */
export function lowPeakGradients<T extends tf.Tensor>(
  f: () => T,
  sources: readonly tf.Tensor[],
  dy?: tf.Tensor,
): { value: T; grads: Array<tf.Tensor | null> } {
  if (sources.length === 0) throw new Error('lowPeakGradients: sources is empty; pass the tensors to differentiate with respect to.');
  const engine = tf.engine() as unknown as EngineInternals;
  // While f runs, every op recorded with a shape-only gradient gives up its saved copies at once.
  const ownRecorder = Object.prototype.hasOwnProperty.call(engine, 'addTapeNode');
  const record = engine.addTapeNode;
  engine.addTapeNode = function (this: EngineInternals, kernelName, inputs, outputs, gradient, saved, attrs) {
    record.call(this, kernelName, inputs, outputs, gradient, saved, attrs);
    if (SHAPE_ONLY_GRADIENTS.has(kernelName)) for (const tensor of saved) tensor.dispose();
  };
  // tfjs saves every tensor a gradient needs (and what customGrad saves) through `engine.clone`: an Identity dispatch
  // plus a tape node for the copy, so that a higher-order gradient can differentiate through it. Outside another
  // gradient computation nothing does, so the saved tensor is a second handle on the same buffer (a reference
  // count, as the Identity kernels of the cpu backend and of Engram's wasm kernels make it): the same bytes and
  // values without a dispatch or a node (about 170 of each per tiny Transformer-XL training step).
  const ownClone = Object.prototype.hasOwnProperty.call(engine, 'clone');
  const clone = engine.clone;
  if (engine.state.gradientDepth === 0) {
    engine.clone = function (this: EngineInternals, x: tf.Tensor): tf.Tensor {
      if (x.dtype === 'string') return clone.call(this, x);
      const shared = this.makeTensorFromTensorInfo({ dataId: x.dataId, shape: x.shape, dtype: x.dtype });
      this.backend.incRef(x.dataId);
      return shared;
    };
  }
  let value: T;
  try {
    value = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy('forward', f),
    );
  } catch (error) {
    // The forward scope freed f's tensors; what the tape saved for a backward pass that will not run goes too.
    if (engine.state.gradientDepth === 0) {
      for (const node of engine.state.activeTape ?? []) for (const tensor of node.saved ?? []) tensor.dispose();
      engine.state.activeTape = null;
    }
    throw error;
  } finally {
    if (ownRecorder) engine.addTapeNode = record;
    else delete (engine as Partial<EngineInternals>).addTapeNode;
    if (ownClone) engine.clone = clone;
    else delete (engine as Partial<EngineInternals>).clone;
  }
  if (!(value instanceof tf.Tensor)) throw new Error('lowPeakGradients: f must return a tensor.');
  if (dy !== undefined && (dy.dtype !== 'float32' || !tf.util.arraysEqual(dy.shape, value.shape))) {
    throw new Error(`lowPeakGradients: dy must be float32 of shape [${value.shape.join(', ')}] (f's result), got ${dy.dtype} [${dy.shape.join(', ')}].`);
  }
  const tape = engine.state.activeTape ?? [];
  const outermost = engine.state.gradientDepth === 0;
  const path = nodesBetween(tape, sources, value);
  const onPath = new Set(path.map((node) => node.id));
  if (outermost) for (const node of tape) if (!onPath.has(node.id)) for (const tensor of node.saved ?? []) tensor.dispose();
  const result = engine.tidy('backward', () => {
    // Gradient of each tensor (by id) so far, and how many entries hold each gradient tensor.
    const gradientOf = new Map<number, tf.Tensor>();
    const holders = new Map<tf.Tensor, number>();
    const hold = (id: number, gradient: tf.Tensor) => {
      gradientOf.set(id, gradient);
      holders.set(gradient, (holders.get(gradient) ?? 0) + 1);
    };
    const release = (id: number): tf.Tensor | undefined => {
      const gradient = gradientOf.get(id);
      if (gradient === undefined) return undefined;
      gradientOf.delete(id);
      const count = (holders.get(gradient) ?? 1) - 1;
      if (count > 0) holders.set(gradient, count);
      else holders.delete(gradient);
      return gradient;
    };
    const seed = dy ?? tf.ones(value.shape);
    hold(value.id, seed);
    const kept = new Set<tf.Tensor>([seed]);
    const sourceIds = new Set(sources.map((source) => source.id));
    for (let index = path.length - 1; index >= 0; index--) {
      const node = path[index] as TapeNode;
      if (!node.gradient) {
        throw new Error(`lowPeakGradients: op ${node.kernelName} has no registered gradient; register one or keep it out of the differentiated function.`);
      }
      const gradientFuncs = node.gradient(node.outputs.map((output) => gradientOf.get(output.id) ?? null));
      // Replaced or finished with at the end of this node; disposed then unless still held (a gradient function may
      // return one tensor for two inputs, or its dy unchanged).
      const finished: tf.Tensor[] = [];
      for (const [name, input] of Object.entries(node.inputs)) {
        const gradientFunc = gradientFuncs[name];
        if (gradientFunc === undefined) {
          throw new Error(`lowPeakGradients: the gradient of ${node.kernelName} gives nothing for its input "${name}" (inputs: ${Object.keys(gradientFuncs).join(', ')}).`);
        }
        const dx = tf.tidy(gradientFunc);
        if (dx.dtype !== 'float32') {
          throw new Error(`lowPeakGradients: the gradient of ${node.kernelName} for input "${name}" is ${dx.dtype}; gradients must be float32.`);
        }
        if (!tf.util.arraysEqual(dx.shape, input.shape)) {
          throw new Error(`lowPeakGradients: the gradient of ${node.kernelName} for input "${name}" has shape [${dx.shape.join(', ')}], the input [${input.shape.join(', ')}].`);
        }
        const before = release(input.id);
        if (before === undefined) hold(input.id, dx);
        else {
          hold(input.id, tf.add(before, dx));
          finished.push(before, dx);
        }
      }
      for (const output of node.outputs) {
        if (sourceIds.has(output.id)) continue;
        const gradient = release(output.id);
        if (gradient !== undefined) finished.push(gradient);
      }
      for (const tensor of finished) if (!holders.has(tensor) && !kept.has(tensor)) tensor.dispose();
      if (outermost) for (const tensor of node.saved ?? []) if (!holders.has(tensor)) tensor.dispose();
    }
    const grads = sources.map((source) => gradientOf.get(source.id) ?? null);
    return { value, grads } as unknown as tf.TensorContainer;
  }) as unknown as { value: T; grads: Array<tf.Tensor | null> };
  if (outermost) {
    const returned = new Set(result.grads);
    for (const node of tape) for (const tensor of node.saved ?? []) if (!returned.has(tensor)) tensor.dispose();
    engine.state.activeTape = null;
  }
  return result;
}
