// The memory transformer language model (SPEC 2, 6, 7): embedding, relative-attention blocks, memory policy, training step.
import * as tf from '@tensorflow/tfjs';
import {
  createPositionBiases,
  createRelativeAttention,
  hashSeed,
  seededNormal,
  stableVariableName,
  uniqueScope,
  type PositionBiases,
  type RelativeAttention,
} from '@engram/attention';
import { clipAndApplyGradients, feedForwardRelu, FusedAdamOptimizer, layerNorm, matMul, sparseSoftmaxCrossEntropy, stopGradient } from '@engram/kernels';
import {
  createFifoPolicy,
  disposeState,
  disposeStateExcept,
  keepState,
  stateTensors,
  type AttentionProjections,
  type ContentAttention,
  type MemoryPolicy,
  type MemoryState,
  type SegmentRecord,
} from '@engram/memory';
import { resolveConfig, type ModelConfig, type ResolvedModelConfig } from './config.js';
import { ModelConfigError, ModelInputError } from './errors.js';
import {
  adaptiveEmbed,
  adaptiveLayout,
  adaptiveLogProbabilities,
  adaptiveTargetLogProbabilities,
  adaptiveWeights,
  createAdaptiveInput,
  createAdaptiveOutput,
  type AdaptiveLayout,
  type AdaptiveVariables,
} from './adaptive.js';
import { keyDistanceBound } from './distance-bound.js';
import { embeddingLookup, gelu } from './layers.js';
import { lowPeakGradients } from './tape.js';

/** One segment of training data. */
export interface Batch {
  /** int32 `[batch, T]` input tokens. */
  inputs: tf.Tensor2D;
  /** int32 `[batch, T]` next tokens. */
  targets: tf.Tensor2D;
  /** float `[batch, T]`, 1 = the position counts in the loss (default: every position counts). */
  mask?: tf.Tensor2D;
}

/** Optimizers of {@link MemoryTransformer.trainStep}. */
export interface TrainOptimizers {
  /** Trains the model's variables and `policy.variables()`. */
  optimizer: tf.Optimizer;
  /**
   * Trains `policy.separateVariables()` with `policy.separateLoss`. Required when the policy has
   * both (e.g. a compressive policy in a reconstruction mode): the caller owns and schedules it.
   */
  separateOptimizer?: tf.Optimizer;
}

/** Options of {@link MemoryTransformer.trainStep}. */
export interface TrainStepOptions {
  /** Clip gradients by this global norm (SPEC 7); 0 or absent disables clipping. Also applied to the separate step. */
  clipNorm?: number;
  /** Skip the update when the loss or gradient norm is not finite (default true). Memory still advances. */
  skipNonFinite?: boolean;
}

/** Result of {@link MemoryTransformer.trainStep}. */
export interface TrainStepResult {
  /** taskLoss + auxiliaryLoss (what the gradient was taken of). */
  loss: number;
  /** Mean cross-entropy in nats over counted target positions of all segments. */
  taskLoss: number;
  /** Policy auxiliary losses, summed over layers, averaged over the unrolled segments. */
  auxiliaryLoss: number;
  /** The policy's separate loss (summed over segments), or null when it had none this step. */
  separateLoss: number | null;
  /** Global gradient norm before clipping. */
  gradientNorm: number;
  /** Whether the optimizer step was applied (false for a non-finite loss or norm). */
  applied: boolean;
  /** The memory after the last segment (the input state was consumed). */
  state: MemoryState;
}

/** Result of {@link MemoryTransformer.forward}. */
export interface ForwardResult {
  /** `[batch, T, vocab]`, owned by the caller; log-probabilities (also valid logits) for adaptive-softmax models (`config.cutoffs`, projections). */
  logits: tf.Tensor3D;
  /** The memory after this segment (the input state was consumed). */
  state: MemoryState;
  /** Sum over layers of the policy's auxiliary losses for this segment. */
  auxiliaryLoss: number;
}

/** Result of {@link MemoryTransformer.evaluate}. */
export interface EvaluateResult {
  /** Sum of the NLL (nats) of counted positions. */
  nllSum: number;
  /** Number of counted positions (sum of the mask). */
  count: number;
  /** NLL (nats) of every position, counted or not, row-major `[batch * T]`. */
  tokenNll: Float32Array;
  /** The memory after this segment (the input state was consumed). */
  state: MemoryState;
}

/**
 * Where the model's random streams stand (JSON-safe; the trainer saves it in checkpoints). Dropout
 * masks are drawn with seeds derived from `config.seed` and a per-stream call counter, so restoring
 * the counters replays the same masks.
 */
export interface RandomState {
  /** Format version of this object (1). */
  version: 1;
  /** Residual-branch dropout masks drawn so far by the model. */
  dropoutCalls: number;
  /** Per layer (index = layer), attention-probability dropout masks drawn so far. */
  attentionDropoutCalls: number[];
}

/** Options of {@link createModel}. */
export interface CreateModelOptions {
  /** The memory method (default: FIFO with memoryLength = segmentLength). The model builds it. */
  policy?: MemoryPolicy;
}

interface Norm {
  weight: tf.Variable;
  bias: tf.Variable;
}

interface Block {
  attention: RelativeAttention;
  attentionNorm: Norm;
  innerWeight: tf.Variable;
  innerBias: tf.Variable;
  outerWeight: tf.Variable;
  outerBias: tf.Variable;
  feedForwardNorm: Norm;
}

/** What one segment's forward pass produces (tensors owned by whoever runs it). */
interface SegmentBody {
  layerInputs: tf.Tensor3D[];
  positions: tf.Tensor2D;
  probabilities: tf.Tensor4D[] | undefined;
  /** Per layer, the attention's projections (training steps of a policy that sets `needsAttentionProjections`). */
  projections: AttentionProjections[] | undefined;
  auxiliaryLoss: tf.Scalar;
}

/** The tensors of a segment's pieces that go to the policy's record (not the auxiliary loss nor the output). */
function recordTensors(pieces: SegmentBody): tf.Tensor[] {
  const projected = (pieces.projections ?? []).flatMap(({ queries, keys, values }) => [queries, keys, values]);
  return [...pieces.layerInputs, pieces.positions, ...(pieces.probabilities ?? []), ...projected];
}

interface SegmentPieces extends SegmentBody {
  logits: tf.Tensor3D;
}

/** A training segment: the targets' negative log-likelihood `[batch * T]` instead of the logits. */
interface TrainingPieces extends SegmentBody {
  nll: tf.Tensor1D;
}

/**
 * A Transformer-XL style language model whose memory is managed by a {@link MemoryPolicy}
 * (SPEC 2). States are values: `forward`, `evaluate` and `trainStep` consume the state they are
 * given and return the next one.
 */
export class MemoryTransformer {
  /** The configuration with defaults filled in. */
  readonly config: ResolvedModelConfig;
  /** The memory method (built by the model). */
  readonly policy: MemoryPolicy;
  private readonly scope: string;
  private readonly named = new Map<string, tf.Variable>();
  /** The plain model's `[V, D]` table and output (null for adaptive models). */
  private readonly embedding: tf.Variable | null;
  private readonly blocks: Block[] = [];
  private readonly finalNorm: Norm | null;
  private readonly outputWeight: tf.Variable | null;
  private readonly outputBias: tf.Variable | null;
  /** Adaptive embedding and softmax (config.cutoffs, embeddingDivisor, embeddingDim), or null for the plain model. */
  private readonly adaptive: { layout: AdaptiveLayout; variables: AdaptiveVariables } | null;
  private readonly sharedBiases: PositionBiases | null;
  private readonly contentAttentions: ContentAttention[];
  /** The same_length windows (training, evaluation), or null without `config.sameLength`. */
  private readonly sameLengthWindows: { training: number; evaluation: number } | null;
  private dropoutCalls = 0;
  private disposed = false;

  constructor(config: ModelConfig, options: CreateModelOptions = {}) {
    this.config = resolveConfig(config);
    const c = this.config;
    this.policy = options.policy ?? createFifoPolicy({ memoryLength: c.segmentLength });
    if (this.policy.specificationVersion !== 'v1') {
      throw new ModelConfigError(
        `createModel: options.policy implements MemoryPolicy ${JSON.stringify(this.policy.specificationVersion)}, this model supports "v1".`,
      );
    }
    this.sameLengthWindows = c.sameLength ? sameLengthWindows(this.policy) : null;
    this.scope = uniqueScope('model');
    const headDim = c.modelDim / c.numHeads;
    const layout = adaptiveLayout(c);
    const maker = { matrix: this.matrix.bind(this), constant: this.constant.bind(this) };
    const adaptiveInput = layout ? createAdaptiveInput(layout, c, maker) : null;
    this.embedding = layout ? null : this.matrix('embedding.weight', [c.vocabSize, c.modelDim]);
    this.sharedBiases = c.perLayerPositionBiases
      ? null
      : createPositionBiases({
          numHeads: c.numHeads,
          headDim,
          namePrefix: 'attention',
          seed: c.seed,
          initStandardDeviation: c.initStandardDeviation,
          scope: this.scope,
        });
    if (this.sharedBiases) {
      this.register(this.sharedBiases.u);
      this.register(this.sharedBiases.v);
    }
    for (let layer = 0; layer < c.numLayers; layer++) {
      const prefix = `layers.${layer}`;
      const attention = createRelativeAttention({
        modelDim: c.modelDim,
        numHeads: c.numHeads,
        clampLength: c.clampLength,
        dropout: c.attentionDropout,
        namePrefix: `${prefix}.attention`,
        ...(this.sharedBiases ? { positionBiases: this.sharedBiases } : {}),
        seed: c.seed,
        initStandardDeviation: c.initStandardDeviation,
        scope: this.scope,
      });
      for (const variable of attention.variables()) this.register(variable);
      this.blocks.push({
        attention,
        attentionNorm: this.norm(`${prefix}.attention_norm`),
        innerWeight: this.matrix(`${prefix}.feed_forward.inner.weight`, [c.modelDim, c.feedForwardDim]),
        innerBias: this.constant(`${prefix}.feed_forward.inner.bias`, [c.feedForwardDim], 0),
        outerWeight: this.matrix(`${prefix}.feed_forward.outer.weight`, [c.feedForwardDim, c.modelDim]),
        outerBias: this.constant(`${prefix}.feed_forward.outer.bias`, [c.modelDim], 0),
        feedForwardNorm: this.norm(`${prefix}.feed_forward_norm`),
      });
    }
    this.finalNorm = c.finalNorm ? this.norm('final_norm') : null;
    this.outputWeight = layout || c.tieEmbeddings ? null : this.matrix('output.weight', [c.modelDim, c.vocabSize]);
    this.outputBias = layout ? null : this.constant('output.bias', [c.vocabSize], 0);
    this.adaptive = layout && adaptiveInput ? { layout, variables: { ...adaptiveInput, ...createAdaptiveOutput(layout, c, maker) } } : null;
    this.contentAttentions = this.blocks.map((block) => {
      const content = block.attention.contentAttention;
      if (c.norm === 'post') return content;
      // Pre-norm: both inputs pass the layer's attention norm; forQueries normalises and projects h once.
      // attendWithGradient takes the key-input gradient of the attention back through the norm (a gradient of the
      // norm alone, gamma and beta held constant): dL/dx = norm'(x)^T dL/dnorm(x). Projections of the forward pass
      // (forProjectedQueries, attendProjected) were made from normalised inputs already.
      const normalise = (x: tf.Tensor3D): tf.Tensor3D => this.layerNorm(x, block.attentionNorm);
      const normBackward = tf.grad((x: tf.Tensor) => normalise(x as tf.Tensor3D));
      const normalising = (bound: ReturnType<typeof content.forQueries>): ReturnType<typeof content.forQueries> => ({
        attend: (keyValueInput: tf.Tensor3D) => tf.tidy(() => bound.attend(normalise(keyValueInput))),
        attendWithGradient: (keyValueInput: tf.Tensor3D, outputGradient: (output: tf.Tensor3D) => tf.Tensor3D) =>
          tf.tidy(() => {
            const { output, keyValueGradient } = bound.attendWithGradient(normalise(keyValueInput), outputGradient);
            return { output, keyValueGradient: normBackward(keyValueInput, keyValueGradient) as tf.Tensor3D };
          }),
        attendProjected: (projectedKeys: tf.Tensor3D, projectedValues: tf.Tensor3D) => bound.attendProjected(projectedKeys, projectedValues),
        dispose: () => bound.dispose(),
      });
      return Object.assign(
        (queryInput: tf.Tensor3D, keyValueInput: tf.Tensor3D) => tf.tidy(() => content(normalise(queryInput), normalise(keyValueInput))),
        {
          forQueries: (queryInput: tf.Tensor3D) => {
            const normalised = tf.tidy(() => normalise(queryInput));
            try {
              return normalising(content.forQueries(normalised));
            } finally {
              normalised.dispose();
            }
          },
          forProjectedQueries: (projectedQueries: tf.Tensor3D) => normalising(content.forProjectedQueries(projectedQueries)),
        },
      );
    });
    this.policy.build({
      numLayers: c.numLayers,
      modelDim: c.modelDim,
      numHeads: c.numHeads,
      segmentLength: c.segmentLength,
      seed: c.seed,
    });
    this.namedVariables(); // fails early on clashing policy variable names
  }

  private register(variable: tf.Variable): tf.Variable {
    this.named.set(stableVariableName(variable), variable);
    return variable;
  }

  private matrix(name: string, shape: number[]): tf.Variable {
    const initial = seededNormal(shape, this.config.initStandardDeviation, this.config.seed, name);
    const variable = tf.variable(initial, true, `${this.scope}/${name}`);
    initial.dispose();
    return this.register(variable);
  }

  private constant(name: string, shape: number[], value: number): tf.Variable {
    const initial = tf.fill(shape, value);
    const variable = tf.variable(initial, true, `${this.scope}/${name}`);
    initial.dispose();
    return this.register(variable);
  }

  private norm(prefix: string): Norm {
    return {
      weight: this.constant(`${prefix}.weight`, [this.config.modelDim], 1),
      bias: this.constant(`${prefix}.bias`, [this.config.modelDim], 0),
    };
  }

  private layerNorm<T extends tf.Tensor>(x: T, norm: Norm): T {
    return layerNorm(x, norm.weight as tf.Tensor1D, norm.bias as tf.Tensor1D, this.config.layerNormEpsilon);
  }

  /**
   * Every variable under its stable name: the model's own (see the README's naming table) and
   * the policy's (`policy.<name>`, where `<name>` is the policy variable's name after its last `/`).
   * These are also the tensor names of saved weights.
   */
  namedVariables(): Record<string, tf.Variable> {
    const named: Record<string, tf.Variable> = Object.fromEntries(this.named);
    for (const variable of [...this.policy.variables(), ...this.policy.separateVariables()]) {
      const name = `policy.${stableVariableName(variable)}`;
      const existing = named[name];
      if (existing && existing !== variable) {
        throw new ModelConfigError(
          `MemoryTransformer: two policy variables share the stable name "${name}" ("${existing.name}" and "${variable.name}"). Name policy variables "<unique scope>/<stable name>" with distinct stable names.`,
        );
      }
      named[name] = variable;
    }
    return named;
  }

  /** Every variable (model and policy, including separately trained ones), in a stable order. */
  variables(): tf.Variable[] {
    return Object.values(this.namedVariables());
  }

  /** The variables the language-model loss trains: the model's and `policy.variables()`. */
  trainableVariables(): tf.Variable[] {
    return [...this.named.values(), ...this.policy.variables()];
  }

  /** Number of scalar parameters (model and policy). */
  parameterCount(): number {
    return this.variables().reduce((total, variable) => total + variable.size, 0);
  }

  /** Largest distance in tokens information can travel through memory (the policy's, SPEC 3). */
  temporalRange(): number {
    return this.policy.temporalRange(this.config.numLayers);
  }

  /** An empty memory for `batchSize` rows. */
  initialState(batchSize: number): MemoryState {
    return this.policy.initialState(batchSize);
  }

  /** Disposes every variable of the model and the policy; optimizers are the caller's to dispose. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const variable of this.named.values()) variable.dispose();
    this.policy.dispose();
  }

  /** The position of every dropout stream (the model's and each attention layer's), JSON-safe. */
  getRandomState(): RandomState {
    return {
      version: 1,
      dropoutCalls: this.dropoutCalls,
      attentionDropoutCalls: this.blocks.map((block) => block.attention.getRandomState().dropoutCalls),
    };
  }

  /**
   * Restores a state from {@link getRandomState} (possibly after a JSON round trip): the following
   * training passes draw the same dropout masks as after the `getRandomState` call.
   */
  setRandomState(state: RandomState): void {
    const candidate = state as Partial<Record<keyof RandomState, unknown>> | null;
    const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
    const layers = candidate?.attentionDropoutCalls;
    if (
      candidate === null ||
      typeof candidate !== 'object' ||
      candidate.version !== 1 ||
      !isCount(candidate.dropoutCalls) ||
      !Array.isArray(layers) ||
      layers.length !== this.blocks.length ||
      !layers.every(isCount)
    ) {
      throw new ModelInputError(
        `setRandomState: state must be { version: 1, dropoutCalls: integer >= 0, attentionDropoutCalls: ${this.blocks.length} integers >= 0 (one per layer) } as returned by getRandomState() of a model with ${this.blocks.length} layers, got ${JSON.stringify(state)}.`,
      );
    }
    this.dropoutCalls = candidate.dropoutCalls;
    this.blocks.forEach((block, layer) => block.attention.setRandomState({ dropoutCalls: layers[layer] as number }));
  }

  private checkTokens(where: string, name: string, tokens: tf.Tensor, state: MemoryState | null): void {
    if (this.disposed) throw new ModelInputError(`${where}: the model was disposed.`);
    if (!(tokens instanceof tf.Tensor) || tokens.isDisposed || tokens.rank !== 2 || tokens.dtype !== 'int32') {
      throw new ModelInputError(
        `${where}: ${name} must be a live int32 tensor [batch, time], got ${tokens instanceof tf.Tensor ? `${tokens.dtype} [${tokens.shape.join(', ')}]${tokens.isDisposed ? ' (disposed)' : ''}` : typeof tokens}.`,
      );
    }
    if (tokens.shape[1] === 0) throw new ModelInputError(`${where}: ${name} has no time steps; pass at least one token per row.`);
    if (state && tokens.shape[0] !== state.batchSize) {
      throw new ModelInputError(
        `${where}: ${name} has batch ${tokens.shape[0]} but the memory state was made for ${state.batchSize} rows; use model.initialState(${tokens.shape[0]}).`,
      );
    }
  }

  /**
   * Screens tokens for the range [0, vocabSize) on the device, with no host read: `count` (float32 scalar) is how
   * many lie outside, read by the caller together with the step's losses (`throwIfOutOfRange`); `inputs` are the
   * input tensors with out-of-range ids replaced by 0, so no gather kernel refuses them before that read and a
   * failed check leaves nothing half-done. Valid inputs pass through unchanged (values, not identity).
   */
  private screenTokens(inputs: readonly tf.Tensor2D[], targets: readonly tf.Tensor2D[]): { count: tf.Scalar; inputs: tf.Tensor2D[] } {
    const vocab = this.config.vocabSize;
    return tf.tidy(() => {
      const outside = (ids: tf.Tensor2D) => tf.logicalOr(tf.less(ids, 0), tf.greaterEqual(ids, vocab));
      const inputMasks = inputs.map(outside);
      const counts = [...inputMasks, ...targets.map(outside)].map((mask) => tf.sum(tf.cast(mask, 'float32')));
      return {
        count: tf.addN(counts) as tf.Scalar,
        inputs: inputs.map((ids, index) => tf.where(inputMasks[index] as tf.Tensor2D, tf.zerosLike(ids), ids) as tf.Tensor2D),
      };
    });
  }

  /** Throws the ModelInputError naming the first out-of-range token when `count` > 0 (a host read only then). */
  private throwIfOutOfRange(where: string, count: number, named: ReadonlyArray<readonly [string, tf.Tensor]>): void {
    if (!(count > 0)) return;
    const vocab = this.config.vocabSize;
    for (const [name, tokens] of named) {
      const values = tokens.dataSync();
      const index = values.findIndex((value) => value < 0 || value >= vocab);
      if (index >= 0) {
        throw new ModelInputError(
          `${where}: ${name} holds token ${values[index]} at flat position ${index}; tokens must lie in [0, ${vocab}) (config.vocabSize).`,
        );
      }
    }
  }

  private checkState(where: string, state: MemoryState): void {
    if (!state || !Array.isArray(state.layers) || state.layers.length !== this.config.numLayers) {
      throw new ModelInputError(
        `${where}: state must be a MemoryState with ${this.config.numLayers} layers (from model.initialState or a previous call), got ${state ? `${state.layers?.length} layers` : String(state)}.`,
      );
    }
    for (const tensor of stateTensors(state)) {
      if (tensor.isDisposed) {
        throw new ModelInputError(
          `${where}: the memory state holds disposed tensors: it was already consumed. Use the state returned by the previous call.`,
        );
      }
    }
  }

  private dropout(x: tf.Tensor3D, rate: number, training: boolean): tf.Tensor3D {
    if (!training || rate === 0) return x;
    const seed = hashSeed(this.config.seed, `dropout.${this.dropoutCalls++}`);
    return tf.dropout(x, rate, undefined, seed) as tf.Tensor3D;
  }

  private feedForward(x: tf.Tensor3D, block: Block): tf.Tensor3D {
    const [batch, time, dim] = x.shape;
    const rows = tf.reshape(x, [batch * time, dim]) as tf.Tensor2D;
    if (this.config.activation !== 'gelu') {
      // One taped op: saves the [rows, FF] activation only, not the three tensors of the unfused chain.
      const fused = feedForwardRelu(rows, block.innerWeight as tf.Tensor2D, block.innerBias as tf.Tensor1D, block.outerWeight as tf.Tensor2D, block.outerBias as tf.Tensor1D);
      return tf.reshape(fused, [batch, time, dim]);
    }
    const inner = tf.add(matMul(rows, block.innerWeight as tf.Tensor2D), block.innerBias);
    const activated = gelu(inner);
    const outer = tf.add(matMul(activated as tf.Tensor2D, block.outerWeight as tf.Tensor2D), block.outerBias);
    return tf.reshape(outer, [batch, time, dim]);
  }

  /** The variables one block reads: its attention's (with the shared u, v), its norms and its feed-forward. */
  private blockVariables(block: Block): tf.Variable[] {
    const attention = block.attention;
    const { u, v } = attention.positionBiases;
    return [
      ...new Set([...attention.variables(), u, v]),
      block.attentionNorm.weight,
      block.attentionNorm.bias,
      block.innerWeight,
      block.innerBias,
      block.outerWeight,
      block.outerBias,
      block.feedForwardNorm.weight,
      block.feedForwardNorm.bias,
    ];
  }

  /**
   * One block as a single taped op that keeps only its inputs (gradient checkpointing, `config.recomputeBlocks`): the
   * forward pass frees every intermediate, and the backward pass reruns the block on a tape of its own (same dropout
   * masks: the random counters are rewound) and takes the gradients of its inputs and variables from there.
   * @param x `[B, T, D]`; `memory` `[B, M, D]` or null; `softMask` broadcastable to `[B, H, T, M + T]`
   */
  private recomputedBlock(
    block: Block,
    runBlock: (input: tf.Tensor3D, memory: tf.Tensor3D | null, softMask: tf.Tensor4D | undefined, keyPositions: tf.Tensor2D, queryPositions: tf.Tensor2D) => tf.Tensor3D,
    x: tf.Tensor3D,
    memory: tf.Tensor3D | null,
    softMask: tf.Tensor4D | undefined,
    keyPositions: tf.Tensor2D,
    queryPositions: tf.Tensor2D,
  ): tf.Tensor3D {
    const variables = this.blockVariables(block);
    const inputs: tf.Tensor[] = [x, ...(memory ? [memory] : []), ...(softMask ? [softMask] : [])];
    const split = (tensors: tf.Tensor[]) => ({
      input: tensors[0] as tf.Tensor3D,
      hidden: memory ? (tensors[1] as tf.Tensor3D) : null,
      soft: softMask ? (tensors[memory ? 2 : 1] as tf.Tensor4D) : undefined,
    });
    const randomAtStart = { model: this.dropoutCalls, attention: block.attention.getRandomState() };
    const op = tf.customGrad((...args) => {
      const save = args[args.length - 1] as tf.GradSaveFunc;
      const given = args.slice(0, inputs.length) as tf.Tensor[];
      // The positions are constants of the block: saved, since the caller's copies are gone by the backward pass.
      save([...given, keyPositions, queryPositions]);
      const { input, hidden, soft } = split(given);
      return {
        value: runBlock(input, hidden, soft, keyPositions, queryPositions),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const savedInputs = saved.slice(0, inputs.length);
          const [savedKeyPositions, savedQueryPositions] = saved.slice(inputs.length) as [tf.Tensor2D, tf.Tensor2D];
          const again = split(savedInputs);
          const randomNow = { model: this.dropoutCalls, attention: block.attention.getRandomState() };
          // A gradient computation starts a fresh tape and drops it when done; the outer backward pass still needs its own.
          const engineState = (tf.engine() as unknown as { state: { activeTape: unknown } }).state;
          const outerTape = engineState.activeTape;
          this.dropoutCalls = randomAtStart.model;
          block.attention.setRandomState(randomAtStart.attention);
          try {
            const sources = [...savedInputs, ...variables];
            const { value, grads } = lowPeakGradients(
              () => runBlock(again.input, again.hidden, again.soft, savedKeyPositions, savedQueryPositions),
              sources,
              dy,
            );
            value.dispose();
            return grads.map((gradient, index) => gradient ?? tf.zerosLike(sources[index] as tf.Tensor));
          } finally {
            engineState.activeTape = outerTape;
            this.dropoutCalls = randomNow.model;
            block.attention.setRandomState(randomNow.attention);
          }
        },
      };
    });
    return op(...inputs, ...variables) as tf.Tensor3D;
  }

  /**
   * The forward pass of one segment (run inside a tidy or gradient scope).
   * @param detachInputs stop-gradient the layer inputs handed to the policy (needed inside a tape)
   * @param recompute run each block as one taped op whose backward pass reruns it ({@link ModelConfig.recomputeBlocks}; inside a tape only)
   */
  private runSegment(inputs: tf.Tensor2D, state: MemoryState, training: boolean, detachInputs: boolean): SegmentPieces;
  /**
   * With `targets` int32 `[batch, T]`: their negative log-likelihood `[batch * T]` instead of the logits
   * (adaptive models never form `[N, V]`). The targets' range is not checked here: the callers check it
   * with their one host read (an out-of-range target gives a meaningless value, never a throw).
   */
  private runSegment(inputs: tf.Tensor2D, state: MemoryState, training: boolean, detachInputs: boolean, targets: tf.Tensor2D, recompute?: boolean): TrainingPieces;
  private runSegment(inputs: tf.Tensor2D, state: MemoryState, training: boolean, detachInputs: boolean, targets?: tf.Tensor2D, recompute = false): SegmentPieces | TrainingPieces {
    const c = this.config;
    const [batch, time] = inputs.shape;
    const positions = tf.tile(tf.expandDims(tf.range(state.tokensSeen, state.tokensSeen + time, 1, 'int32'), 0), [batch, 1]) as tf.Tensor2D;
    let x = this.adaptive
      ? adaptiveEmbed(this.adaptive.layout, adaptiveWeights(this.adaptive.layout, this.adaptive.variables), inputs, c.modelDim)
      : embeddingLookup(this.embedding as tf.Tensor2D, inputs);
    if (c.scaleEmbedding) x = tf.mul(x, Math.sqrt(c.modelDim));
    const needProbabilities = this.policy.needsAttentionProbabilities;
    // A training step's separate loss may reuse what each attention projected, unless the blocks are recomputed
    // (gradient checkpointing keeps no intermediate of the forward pass; the policy then recomputes them).
    const recomputed = recompute && !needProbabilities;
    const needProjections = training && targets !== undefined && this.policy.needsAttentionProjections === true && !recomputed;
    const layerInputs: tf.Tensor3D[] = [];
    const probabilities: tf.Tensor4D[] = [];
    const projections: AttentionProjections[] = [];
    const auxiliaryLosses: tf.Scalar[] = [];
    this.blocks.forEach((block, layer) => {
      layerInputs.push(detachInputs ? stopGradient(x) : x);
      const view = this.policy.read(state, layer);
      const memorySlots = view.hidden ? view.hidden.shape[1] : 0;
      if (view.hidden && (view.hidden.shape[0] !== batch || view.hidden.shape[2] !== c.modelDim || !view.positions || view.positions.shape[1] !== memorySlots)) {
        throw new ModelInputError(
          `MemoryTransformer: policy "${this.policy.kind}" read() for layer ${layer} returned hidden [${view.hidden.shape.join(', ')}] and positions [${view.positions?.shape.join(', ') ?? 'null'}]; expected [${batch}, slots, ${c.modelDim}] and [${batch}, slots].`,
        );
      }
      // The keys [memory; x] are built here only for a policy that modulates attention; otherwise the block builds
      // them inside its own scope, which frees them when it ends.
      const modulates = this.policy.modulate !== undefined;
      const keyHidden = view.hidden && modulates ? (tf.concat([view.hidden, x], 1) as tf.Tensor3D) : view.hidden ? undefined : x;
      const keyPositions = view.positions ? (tf.concat([view.positions, positions], 1) as tf.Tensor2D) : positions;
      const modulation =
        this.policy.modulate?.({ layer, keyHidden: keyHidden as tf.Tensor3D, keyPositions, queryPositions: positions, memorySlots, training }) ?? {};
      if (modulation.auxiliaryLoss) auxiliaryLosses.push(modulation.auxiliaryLoss);
      const window = this.sameLengthWindows ? (training ? this.sameLengthWindows.training : this.sameLengthWindows.evaluation) : undefined;
      // Host-side bound on every query-key distance: the gather path then scores a small table without a host read.
      const maxDistance = keyDistanceBound(view, state.tokensSeen, time, { kind: this.policy.kind, layer });
      // The block from its inputs to its output; `memory` is the policy's hidden memory (null: none) and
      // `concatenated` the keys [memory; input] when already built. Run twice when recomputed in the backward pass.
      const runBlock = (input: tf.Tensor3D, memory: tf.Tensor3D | null, softMask: tf.Tensor4D | undefined, allKeyPositions: tf.Tensor2D, queryPositions: tf.Tensor2D, concatenated?: tf.Tensor3D): tf.Tensor3D => {
        const keys = concatenated ?? (memory ? (tf.concat([memory, input], 1) as tf.Tensor3D) : input);
        const attend = (queries: tf.Tensor3D, attendedKeys: tf.Tensor3D): tf.Tensor3D => {
          const result = block.attention.apply({
            queries,
            keys: attendedKeys,
            queryPositions,
            keyPositions: allKeyPositions,
            contiguous: view.contiguous,
            ...(softMask ? { softMask } : {}),
            returnProbabilities: needProbabilities,
            returnProjections: needProjections,
            training,
            ...(window === undefined ? {} : { window }),
            ...(maxDistance === undefined ? {} : { maxDistance }),
          });
          if (result.probabilities) probabilities.push(result.probabilities);
          if (result.projections) projections.push(result.projections);
          return result.output;
        };
        let y = input;
        if (c.norm === 'pre') {
          // LN is per token, so the queries are the last T rows of LN([memory; x]).
          const normedKeys = this.layerNorm(keys, block.attentionNorm);
          const queries = memorySlots > 0 ? (tf.slice(normedKeys, [0, memorySlots, 0], [-1, time, -1]) as tf.Tensor3D) : normedKeys;
          y = tf.add(y, this.dropout(attend(queries, normedKeys), c.dropout, training));
          return tf.add(y, this.dropout(this.feedForward(this.layerNorm(y, block.feedForwardNorm), block), c.dropout, training));
        }
        y = this.layerNorm(tf.add(y, this.dropout(attend(y, keys), c.dropout, training)), block.attentionNorm);
        return this.layerNorm(tf.add(y, this.dropout(this.feedForward(y, block), c.dropout, training)), block.feedForwardNorm);
      };
      if (recomputed) {
        x = this.recomputedBlock(block, runBlock, x, view.hidden ?? null, modulation.softMask, keyPositions, positions);
      } else {
        // A scope per block: its intermediates are freed before the next block runs, not when the whole forward pass
        // ends (what the backward pass needs is saved on the tape); the output, the probabilities and the
        // projections are returned.
        const firstProbability = probabilities.length;
        const firstProjection = projections.length;
        const [output] = tf.tidy(() => [
          runBlock(x, view.hidden ?? null, modulation.softMask, keyPositions, positions, keyHidden),
          ...probabilities.slice(firstProbability),
          ...projections.slice(firstProjection).flatMap(({ queries, keys, values }) => [queries, keys, values]),
        ]) as [tf.Tensor3D, ...tf.Tensor[]];
        x = output;
      }
      // Built here for the policy's modulate only (which returns tensors of its own).
      if (modulates && view.hidden) keyHidden?.dispose();
    });
    if (this.finalNorm) x = this.layerNorm(x, this.finalNorm);
    const flat = tf.reshape(x, [batch * time, c.modelDim]) as tf.Tensor2D;
    const auxiliaryLoss = auxiliaryLosses.length > 0 ? (tf.addN(auxiliaryLosses) as tf.Scalar) : tf.scalar(0);
    const body: SegmentBody = {
      layerInputs,
      positions,
      probabilities: needProbabilities ? probabilities : undefined,
      projections: needProjections ? projections : undefined,
      auxiliaryLoss,
    };
    if (targets) {
      const flatTargets = tf.reshape(targets, [batch * time]) as tf.Tensor1D;
      const nll = this.adaptive
        ? tf.neg(adaptiveTargetLogProbabilities(this.adaptive.layout, adaptiveWeights(this.adaptive.layout, this.adaptive.variables), flat, flatTargets))
        : sparseSoftmaxCrossEntropy(this.outputScores(flat), flatTargets, { checkTargets: false });
      return { ...body, nll: nll as tf.Tensor1D };
    }
    return { ...body, logits: tf.reshape(this.outputScores(flat), [batch, time, c.vocabSize]) as tf.Tensor3D };
  }

  /**
   * The output layer: logits, or log-probabilities for adaptive models (also valid logits: their softmax is the distribution).
   * @param flat `[N, D]`
   * @returns `[N, V]`
   */
  private outputScores(flat: tf.Tensor2D): tf.Tensor2D {
    return this.adaptive
      ? adaptiveLogProbabilities(this.adaptive.layout, adaptiveWeights(this.adaptive.layout, this.adaptive.variables), flat)
      : // Explicit transpose for tied weights: wasm's transposed matmul is far slower.
        tf.add(matMul(flat, (this.outputWeight ?? tf.transpose(this.embedding as tf.Variable)) as tf.Tensor2D), this.outputBias as tf.Variable);
  }

  /** Runs {@link runSegment} in a tidy scope and returns its tensors. */
  private segment(inputs: tf.Tensor2D, state: MemoryState, training: boolean): SegmentPieces {
    return tf.tidy(() => this.runSegment(inputs, state, training, false) as unknown as tf.TensorContainer) as unknown as SegmentPieces;
  }

  private record(pieces: SegmentBody, training: boolean): SegmentRecord {
    return {
      layerInputs: pieces.layerInputs,
      positions: pieces.positions,
      ...(pieces.probabilities ? { attentionProbabilities: pieces.probabilities } : {}),
      ...(pieces.projections ? { attentionProjections: pieces.projections } : {}),
      contentAttention: this.contentAttentions,
      training,
    };
  }

  /** `policy.write` then ownership bookkeeping: the old state and unused pieces are disposed. */
  private commit(state: MemoryState, pieces: SegmentBody, training: boolean): MemoryState {
    let next: MemoryState | undefined;
    tf.tidy(() => {
      next = keepState(this.policy.write(state, this.record(pieces, training)));
    });
    const written = next as MemoryState;
    const held = new Set(stateTensors(written));
    for (const tensor of [...recordTensors(pieces), pieces.auxiliaryLoss]) {
      if (!held.has(tensor) && !tensor.isDisposed) tensor.dispose();
    }
    disposeStateExcept(state, written);
    return written;
  }

  /**
   * One segment with memory carried in and out (SPEC 2.1). Consumes `state` (disposes what the
   * next state does not hold); the caller disposes `logits`.
   * @param inputs int32 `[batch, T]` (any T >= 1)
   */
  forward(inputs: tf.Tensor2D, state: MemoryState, options: { training?: boolean } = {}): ForwardResult {
    this.checkState('forward', state);
    this.checkTokens('forward', 'inputs', inputs, state);
    const training = options.training ?? false;
    const named = [['inputs', inputs]] as const;
    const screened = this.screenTokens([inputs], []);
    let pieces: SegmentPieces;
    let auxiliaryLoss: number;
    try {
      pieces = this.segment(screened.inputs[0] as tf.Tensor2D, state, training);
      // One host read for the auxiliary loss and the range check.
      const read = tf.tidy(() => tf.stack([pieces.auxiliaryLoss, screened.count]).dataSync());
      auxiliaryLoss = read[0] as number;
      if ((read[1] as number) > 0) {
        this.disposePieces(pieces);
        this.throwIfOutOfRange('forward', read[1] as number, named);
      }
    } finally {
      tf.dispose([screened.count, ...screened.inputs]);
    }
    const next = this.commit(state, pieces, training);
    return { logits: pieces.logits, state: next, auxiliaryLoss };
  }

  /**
   * Negative log-likelihood (nats) of `targets` for one segment, in evaluation mode
   * (evaluation memory length, no dropout). Consumes `state`.
   * @param inputs int32 `[batch, T]`
   * @param targets int32 `[batch, T]`
   * @param options.mask float `[batch, T]`, 1 = counted (default all)
   */
  evaluate(inputs: tf.Tensor2D, targets: tf.Tensor2D, state: MemoryState, options: { mask?: tf.Tensor2D } = {}): EvaluateResult {
    this.checkState('evaluate', state);
    this.checkTokens('evaluate', 'inputs', inputs, state);
    this.checkTokens('evaluate', 'targets', targets, state);
    this.checkSameShape('evaluate', 'targets', targets, inputs);
    if (options.mask) this.checkSameShape('evaluate', 'mask', options.mask, inputs);
    const [batch, time] = inputs.shape;
    const named = [['inputs', inputs], ['targets', targets]] as const;
    const screened = this.screenTokens([inputs], [targets]);
    let pieces: TrainingPieces;
    let read: Float32Array;
    try {
      // The targets' NLL only (adaptive models never form the [N, V] log-probabilities).
      pieces = tf.tidy(() => this.runSegment(screened.inputs[0] as tf.Tensor2D, state, false, false, targets) as unknown as tf.TensorContainer) as unknown as TrainingPieces;
      // One host read: the per-token NLL, the mask (when given) and the range check.
      read = tf.tidy(() => {
        const parts = [pieces.nll, ...(options.mask ? [tf.reshape(tf.cast(options.mask, 'float32'), [batch * time])] : []), tf.reshape(screened.count, [1])];
        return tf.concat(parts).dataSync() as Float32Array;
      });
      pieces.nll.dispose();
      const count = read[read.length - 1] as number;
      if (count > 0) {
        this.disposePieces(pieces);
        this.throwIfOutOfRange('evaluate', count, named);
      }
    } finally {
      tf.dispose([screened.count, ...screened.inputs]);
    }
    const tokens = batch * time;
    const tokenNll = read.slice(0, tokens);
    const mask = options.mask ? read.subarray(tokens, 2 * tokens) : null;
    let nllSum = 0;
    let count = 0;
    tokenNll.forEach((value, index) => {
      const weight = mask ? (mask[index] as number) : 1;
      if (weight !== 0) {
        nllSum += weight * value;
        count += weight;
      }
    });
    const next = this.commit(state, pieces, false);
    return { nllSum, count, tokenNll, state: next };
  }

  /** Disposes what `segment` made, on a path that will not commit it. */
  private disposePieces(pieces: SegmentPieces | TrainingPieces): void {
    const output = 'logits' in pieces ? pieces.logits : pieces.nll;
    tf.dispose([output, ...recordTensors(pieces), pieces.auxiliaryLoss].filter((tensor) => !tensor.isDisposed));
  }

  private checkSameShape(where: string, name: string, tensor: tf.Tensor, reference: tf.Tensor): void {
    if (!(tensor instanceof tf.Tensor) || tensor.isDisposed || tensor.shape.length !== 2 || tensor.shape[0] !== reference.shape[0] || tensor.shape[1] !== reference.shape[1]) {
      throw new ModelInputError(
        `${where}: ${name} must have the shape of inputs [${reference.shape.join(', ')}], got ${tensor instanceof tf.Tensor ? `[${tensor.shape.join(', ')}]` : typeof tensor}.`,
      );
    }
  }

  /**
   * One optimisation step (SPEC 7). `batch` may be an array of K consecutive segments unrolled in
   * one gradient computation (BPTT, SPEC 3.2): memory written between them stays in the tape
   * (layer inputs are stop-gradiented before `write`, so only what the policy computes from its
   * own variables carries gradient). Order: LM gradient over the model and `policy.variables()`;
   * then the gradient of `policy.separateLoss` over `policy.separateVariables()`, with the same weights
   * as the forward pass (the record carries its attention projections when the policy asks); then
   * the LM update (clip, apply) and, when it was applied, the separate one with the separate
   * optimizer; then `policy.write` of the last segment; then `policy.afterOptimizerStep()`.
   * Consumes `state`; the returned state continues the stream.
   */
  trainStep(
    batch: Batch | Batch[],
    state: MemoryState,
    optimizers: TrainOptimizers,
    options: TrainStepOptions = {},
  ): TrainStepResult {
    const batches = Array.isArray(batch) ? batch : [batch];
    if (batches.length === 0) throw new ModelInputError('trainStep: batch is an empty array; pass one Batch or consecutive segments.');
    this.checkState('trainStep', state);
    batches.forEach((item, index) => {
      const where = `trainStep (batch ${index})`;
      this.checkTokens(where, 'inputs', item?.inputs, state);
      this.checkTokens(where, 'targets', item.targets, state);
      this.checkSameShape(where, 'targets', item.targets, item.inputs);
      if (item.mask) this.checkSameShape(where, 'mask', item.mask, item.inputs);
    });
    if (!optimizers || !(optimizers.optimizer instanceof tf.Optimizer)) {
      throw new ModelInputError('trainStep: optimizers.optimizer must be a tf.Optimizer, e.g. createAdam({ learningRate: 1e-3 }).');
    }
    const separateVariables = this.policy.separateVariables();
    const separateOptimizer = optimizers.separateOptimizer;
    if (this.policy.separateLoss && separateVariables.length > 0 && (separateOptimizer == null || !(separateOptimizer instanceof tf.Optimizer))) {
      throw new ModelInputError(
        `trainStep: the ${this.policy.kind} policy trains ${separateVariables.length} separate variables with its own loss; pass optimizers.separateOptimizer, e.g. createAdam({ learningRate: 1e-3 }) (the caller owns and disposes it).`,
      );
    }
    const clipNorm = options.clipNorm ?? 0;
    if (typeof clipNorm !== 'number' || Number.isNaN(clipNorm) || clipNorm < 0) {
      throw new ModelInputError(`trainStep: options.clipNorm must be a number >= 0 (0 disables clipping), got ${clipNorm}.`);
    }
    const skipNonFinite = options.skipNonFinite ?? true;
    const trainable = this.trainableVariables();
    const owned = new Set<tf.Tensor>();
    const segments: Array<{ state: MemoryState; pieces: TrainingPieces }> = [];
    let current = state;
    const tokenTensors = batches.flatMap((item, index) => [[`batch ${index} inputs`, item.inputs], [`batch ${index} targets`, item.targets]] as const);
    const screened = this.screenTokens(batches.map((item) => item.inputs), batches.map((item) => item.targets));
    for (const tensor of [screened.count, ...screened.inputs]) owned.add(tensor);
    try {
      let taskTensor: tf.Scalar | undefined;
      let auxiliaryTensor: tf.Scalar | undefined;
      const { value, grads } = lowPeakGradients(
        () => {
          const nllSums: tf.Tensor[] = [];
          const counts: tf.Tensor[] = [];
          const auxiliaryLosses: tf.Tensor[] = [];
          batches.forEach((item, index) => {
            const [rows, time] = item.inputs.shape;
            const pieces = this.runSegment(screened.inputs[index] as tf.Tensor2D, current, true, true, item.targets, this.config.recomputeBlocks);
            const nll = pieces.nll;
            if (item.mask) {
              const mask = tf.reshape(tf.cast(item.mask, 'float32'), [rows * time]);
              nllSums.push(tf.sum(tf.mul(nll, mask)));
              counts.push(tf.sum(mask));
            } else {
              nllSums.push(tf.sum(nll));
              counts.push(tf.scalar(rows * time));
            }
            auxiliaryLosses.push(pieces.auxiliaryLoss);
            for (const tensor of recordTensors(pieces)) owned.add(tf.keep(tensor));
            segments.push({ state: current, pieces });
            if (index < batches.length - 1) {
              const next = keepState(this.policy.write(current, this.record(pieces, true)));
              for (const tensor of stateTensors(next)) owned.add(tensor);
              current = next;
            }
          });
          const task = tf.div(tf.addN(nllSums), tf.maximum(tf.addN(counts), 1)) as tf.Scalar;
          const auxiliary = tf.div(tf.addN(auxiliaryLosses), batches.length) as tf.Scalar;
          taskTensor = tf.keep(task);
          auxiliaryTensor = tf.keep(auxiliary);
          return tf.add(task, auxiliary) as tf.Scalar;
        },
        trainable,
      );
      // One host read for the losses and the range check, before anything is applied.
      const read = tf.tidy(() => tf.stack([value, taskTensor as tf.Scalar, auxiliaryTensor as tf.Scalar, screened.count]).dataSync());
      const [loss, taskLoss, auxiliaryLoss] = [read[0] as number, read[1] as number, read[2] as number];
      tf.dispose([value, taskTensor as tf.Scalar, auxiliaryTensor as tf.Scalar]);
      if ((read[3] as number) > 0) {
        tf.dispose(grads.filter((gradient): gradient is tf.Tensor => gradient !== null));
        this.throwIfOutOfRange('trainStep', read[3] as number, tokenTensors);
      }
      const named: Record<string, tf.Tensor> = {};
      trainable.forEach((variable, index) => {
        const gradient = grads[index];
        if (gradient) named[variable.name] = gradient;
      });
      // The non-finite guard of both updates: apply unless skipping and the loss or gradient norm is not finite.
      const guard = (lossValue: number) => (globalNorm: number) => !skipNonFinite || (Number.isFinite(lossValue) && Number.isFinite(globalNorm));
      // The separate loss first, with the weights the forward pass used (so it may reuse the record's projections);
      // its update is applied after the LM update, and only when that one was.
      let separate: { value: tf.Scalar; grads: (tf.Tensor | null)[] } | null = null;
      let produced = false;
      if (this.policy.separateLoss && separateVariables.length > 0 && separateOptimizer) {
        try {
          separate = lowPeakGradients(
            () => {
              const losses: tf.Scalar[] = [];
              for (const { state: segmentState, pieces } of segments) {
                const segmentLoss = this.policy.separateLoss?.(segmentState, this.record(pieces, true));
                if (segmentLoss) losses.push(segmentLoss);
              }
              produced = losses.length > 0;
              return produced ? (tf.addN(losses) as tf.Scalar) : tf.scalar(0);
            },
            separateVariables,
          );
        } catch (error) {
          tf.dispose(Object.values(named));
          throw error;
        }
      }
      const main = clipAndApplyGradients(optimizers.optimizer, named, clipNorm, guard(loss));
      tf.dispose(Object.values(named));
      const applied = main.applied;

      let separateLoss: number | null = null;
      if (separate) {
        if (applied && produced && separateOptimizer) {
          separateLoss = separate.value.dataSync()[0] as number;
          const separateNamed: Record<string, tf.Tensor> = {};
          separateVariables.forEach((variable, index) => {
            const gradient = separate?.grads[index];
            if (gradient) separateNamed[variable.name] = gradient;
          });
          clipAndApplyGradients(separateOptimizer, separateNamed, clipNorm, guard(separateLoss));
        }
        tf.dispose([separate.value, ...separate.grads.filter((gradient): gradient is tf.Tensor => gradient !== null)]);
      }

      const last = segments[segments.length - 1] as { state: MemoryState; pieces: TrainingPieces };
      let written: MemoryState | undefined;
      tf.tidy(() => {
        written = keepState(this.policy.write(current, this.record(last.pieces, true)));
      });
      const next = written as MemoryState;
      this.policy.afterOptimizerStep?.();
      const held = new Set(stateTensors(next));
      for (const tensor of new Set([...owned, ...stateTensors(state)])) {
        if (!held.has(tensor) && !tensor.isDisposed) tensor.dispose();
      }
      return { loss, taskLoss, auxiliaryLoss, separateLoss, gradientNorm: main.globalNorm, applied, state: next };
    } catch (error) {
      const original = new Set(stateTensors(state));
      for (const tensor of owned) if (!original.has(tensor) && !tensor.isDisposed) tensor.dispose();
      throw error;
    }
  }
  /**
   * A token-by-token stream over one batch row (SPEC 6). Each pushed token attends to
   * `[memory; pending]`; when `segmentLength` tokens are pending they are committed to memory
   * with the policy exactly as in evaluation. The logits equal teacher-forced logits over the
   * same stream.
   */
  createStream(options: { batchSize?: 1 } = {}): ModelStream {
    if ((options.batchSize ?? 1) !== 1) {
      throw new ModelInputError(`createStream: only batchSize 1 is supported, got ${options.batchSize}.`);
    }
    let state = this.initialState(1);
    let pending: number[] = [];
    let pushed = 0;
    let closed = false;
    const model = this;
    return {
      push(token: number): Float32Array {
        if (closed) throw new ModelInputError('stream.push: the stream was disposed.');
        if (!Number.isInteger(token) || token < 0 || token >= model.config.vocabSize) {
          throw new ModelInputError(
            `stream.push: token must be an integer in [0, ${model.config.vocabSize}) (config.vocabSize), got ${token}.`,
          );
        }
        pending.push(token);
        const inputs = tf.tensor2d([pending], [1, pending.length], 'int32');
        const pieces = model.segment(inputs, state, false);
        inputs.dispose();
        const last = tf.tidy(() => tf.slice(pieces.logits, [0, pending.length - 1, 0], [1, 1, -1]));
        const logits = last.dataSync().slice() as Float32Array;
        last.dispose();
        pieces.logits.dispose();
        if (pending.length === model.config.segmentLength) {
          state = model.commit(state, pieces, false);
          pending = [];
        } else {
          tf.dispose([...recordTensors(pieces), pieces.auxiliaryLoss]);
        }
        pushed += 1;
        return logits;
      },
      get state(): MemoryState {
        return state;
      },
      get pending(): readonly number[] {
        return pending;
      },
      get position(): number {
        return pushed;
      },
      dispose(): void {
        if (closed) return;
        closed = true;
        disposeState(state);
      },
    };
  }
}

/** A token-by-token stream (see {@link MemoryTransformer.createStream}). */
export interface ModelStream {
  /** Appends one token and returns the logits `[vocab]` predicting the next one. */
  push(token: number): Float32Array;
  /** The committed memory (segments already written). */
  readonly state: MemoryState;
  /** Tokens pushed since the last commit (fewer than segmentLength). */
  readonly pending: readonly number[];
  /** Tokens pushed so far. */
  readonly position: number;
  /** Disposes the stream's memory. */
  dispose(): void;
}


/** The same_length windows of a policy: its `config()` memory lengths (FIFO's `memoryLength`, `evalMemoryLength`). */
function sameLengthWindows(policy: MemoryPolicy): { training: number; evaluation: number } {
  const { memoryLength, evalMemoryLength } = policy.config() as { memoryLength?: unknown; evalMemoryLength?: unknown };
  const isLength = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 1;
  if (!isLength(memoryLength) || (evalMemoryLength !== undefined && !isLength(evalMemoryLength))) {
    throw new ModelConfigError(
      `createModel: config.sameLength needs a policy with a fixed memory length (config().memoryLength >= 1, e.g. FIFO); policy "${policy.kind}" has memoryLength ${JSON.stringify(memoryLength)} and evalMemoryLength ${JSON.stringify(evalMemoryLength)}. Use sameLength only with FIFO memory of at least one slot.`,
    );
  }
  return { training: memoryLength, evaluation: evalMemoryLength ?? memoryLength };
}

/** Creates a model; the policy defaults to FIFO memory of `segmentLength` slots per layer. */
export function createModel(config: ModelConfig, options: CreateModelOptions = {}): MemoryTransformer {
  return new MemoryTransformer(config, options);
}

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

/**
 * Adam with the papers' defaults (SPEC 7). Set `optimizer.learningRate` between steps for schedules. A
 * `tf.AdamOptimizer` (same state, weights and results) whose update is one fused wasm pass per variable, the
 * gradient clip included, when the fast kernels are registered; the stock ops elsewhere.
 */
export function createAdam(options: AdamOptions): FusedAdamOptimizer {
  if (!options || typeof options.learningRate !== 'number' || !(options.learningRate > 0)) {
    throw new ModelInputError(`createAdam: learningRate must be a number > 0, got ${JSON.stringify(options?.learningRate)}.`);
  }
  return new FusedAdamOptimizer(options.learningRate, options.beta1 ?? 0.9, options.beta2 ?? 0.999, options.epsilon ?? 1e-8);
}
