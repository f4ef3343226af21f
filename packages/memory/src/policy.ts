// The MemoryPolicy contract (v1): how a memory method plugs into the model (SPEC 2.1, ARCHITECTURE "plug-in contracts").
import type * as tf from '@tensorflow/tfjs';

/**
 * Memory of one layer, as kept between steps. States are immutable values: a policy never
 * changes a state in place, it returns a new one (see {@link MemoryPolicy.write}).
 */
export interface LayerMemory {
  /** Detached layer inputs kept as memory, `[batch, slots, modelDim]`; null while empty. */
  readonly hidden: tf.Tensor3D | null;
  /** Absolute stream position of every slot, int32 `[batch, slots]`; null while empty. */
  readonly positions: tf.Tensor2D | null;
  /**
   * Policy-specific tensors of this layer (compressed memory, usage statistics, buffers of
   * evicted entries waiting for a full compression block, ...), keyed by a stable name.
   */
  readonly extra: Readonly<Record<string, tf.Tensor>>;
}

/** Memory of every layer plus the stream position shared by all batch rows. */
export interface MemoryState {
  readonly layers: readonly LayerMemory[];
  /** Number of tokens of each row consumed so far: the current segment starts at this position. */
  readonly tokensSeen: number;
  /** Batch rows this state was built for. */
  readonly batchSize: number;
}

/** Dimensions the model hands to {@link MemoryPolicy.build}. */
export interface ModelDimensions {
  numLayers: number;
  modelDim: number;
  numHeads: number;
  /** Tokens per training segment (T). */
  segmentLength: number;
  /** The model's seed, so policies can derive a reproducible initialisation. */
  seed?: number;
}

/** What layer `layer` attends to besides the current segment. */
export interface MemoryView {
  /** `[batch, memorySlots, modelDim]`, or null when the layer has no memory yet. */
  hidden: tf.Tensor3D | null;
  /** int32 `[batch, memorySlots]`, or null when empty. */
  positions: tf.Tensor2D | null;
  /**
   * True when, in every row, the memory positions are exactly `tokensSeen - slots, ...,
   * tokensSeen - 1` (contiguous with the current segment), so attention may use the fast
   * rel-shift path; false selects the gather path (SPEC 2.2).
   */
  contiguous: boolean;
  /**
   * Optional, host side (a plain number, never a tensor): a lower bound on every entry of `positions`, over every
   * row and slot, normally the smallest memory position. The model turns it into a bound on the distance from a
   * query to any key, `(tokensSeen + T - 1) - oldestPosition`, and hands that to attention (`maxDistance`), so the
   * gather path scores a small table of distances without reading the positions back to the host. Give it only
   * when it is known on the host without a read (positions the policy wrote itself, or data it already read);
   * leave it out otherwise (then attention gets no bound and finds the distances itself). It must be an integer
   * no larger than any memory position (so at most `tokensSeen - 1`): a larger value would clip real distances.
   * Ignored while `hidden` is null.
   */
  oldestPosition?: number;
}

/** Inputs of {@link MemoryPolicy.modulate}: the keys of one layer's attention call. */
export interface ModulationContext {
  layer: number;
  /** Memory then current segment layer inputs, `[batch, keys, modelDim]` (keys = memory + queries). */
  keyHidden: tf.Tensor3D;
  /** int32 `[batch, keys]`. */
  keyPositions: tf.Tensor2D;
  /** int32 `[batch, queries]`. */
  queryPositions: tf.Tensor2D;
  /** Number of leading keys that come from memory (the rest is the current segment). */
  memorySlots: number;
  training: boolean;
}

/** How a policy changes one attention call (span methods). */
export interface AttentionModulation {
  /**
   * Multiplicative soft mask over keys in [0, 1], broadcastable to `[batch, heads, queries, keys]`
   * (usually `[batch, 1, queries, keys]` or `[1, heads, queries, keys]`). Applied as SPEC 4:
   * logits where it is 0 are masked before softmax, then `a <- m a / (sum m a + 1e-8)`.
   */
  softMask?: tf.Tensor4D;
  /** Auxiliary loss of this layer for this segment (added to the task loss). */
  auxiliaryLoss?: tf.Scalar;
}

/**
 * Content-only attention of one layer with its own (frozen) projections, used by compression
 * losses (SPEC 3.2): `A(h, x) = softmax(Q(h) K(x)^T / sqrt(d)) V(x)` per head, pre-norm applied
 * as in the layer, no position terms, no mask, no output projection.
 * queryInput `[batch, queries, modelDim]`, keyValueInput `[batch, n, modelDim]` -> `[batch, queries, modelDim]`.
 *
 * A plain function of that signature is a valid content attention. An implementation may also offer
 * {@link ContentAttention.forQueries}: callers that attend from the same `h` to several key inputs (the
 * attention-reconstruction loss attends to the evicted and to the compressed memories, and differentiates the
 * latter) then normalise and project the queries once; without it they call the function each time.
 */
export interface ContentAttention {
  (queryInput: tf.Tensor3D, keyValueInput: tf.Tensor3D): tf.Tensor3D;
  /**
   * Prepares the queries of `queryInput` `[batch, queries, modelDim]` (pre-norm, projection and `1/sqrt(d)` scale)
   * once. The returned `attend(x)` must equal `A(queryInput, x)` for every key input `x` `[batch, n, modelDim]`
   * (same batch), including its gradient with respect to `x`; the prepared queries are constants of it.
   * The caller disposes the result when done (its tensors are kept out of tidy scopes until then).
   */
  forQueries?: (queryInput: tf.Tensor3D) => QueryBoundAttention;
  /**
   * Optional: the same as {@link forQueries} for queries the layer has already projected: `projectedQueries` is
   * `Q(h)` `[batch, queries, modelDim]` as the forward pass computed it ({@link AttentionProjections.queries}: after
   * the pre-norm and the query projection, before the `1/sqrt(d)` scale and any position bias). Must give the same
   * `attend`, `attendWithGradient` and `attendProjected` as `forQueries(h)`; the caller disposes the result.
   */
  forProjectedQueries?: (projectedQueries: tf.Tensor3D) => QueryBoundAttention;
}

/**
 * Per layer, what the attention of a training forward pass projected (SPEC 3.2 reuses it for the target of the
 * attention-reconstruction loss): `queries` `Q(h)` `[batch, T, modelDim]` (pre-norm and projection; no scale, no
 * position bias) and `keys` `K(x)`, `values` `V(x)` `[batch, keys, modelDim]` of the keys `x = [memory view; current]`,
 * in that order. Present in {@link SegmentRecord.attentionProjections} only when the policy sets
 * {@link MemoryPolicy.needsAttentionProjections} and the model kept them (not under gradient checkpointing).
 */
export interface AttentionProjections {
  queries: tf.Tensor3D;
  keys: tf.Tensor3D;
  values: tf.Tensor3D;
}

/** A content attention with its queries prepared ({@link ContentAttention.forQueries}). */
export interface QueryBoundAttention {
  /** `A(h, keyValueInput)`: keyValueInput `[batch, n, modelDim]` -> `[batch, queries, modelDim]`. */
  attend(keyValueInput: tf.Tensor3D): tf.Tensor3D;
  /**
   * Optional: `A(h, x)` and the gradient with respect to `x` of a loss of it, without a gradient tape (the
   * attention-reconstruction loss uses it when offered, else it differentiates `attend`).
   *
   * `x` = keyValueInput `[batch, n, modelDim]`. `outputGradient(output)` is called once with
   * `output = A(h, x)` `[batch, queries, modelDim]` and returns the upstream gradient `dL/doutput` of the same shape
   * (the loss needs the output to form it, hence a callback; other tensors it makes are released after it). The result is `output`
   * and `keyValueGradient = dL/dx` `[batch, n, modelDim]`, the product of that upstream gradient with the Jacobian of
   * `attend` at `x`: the prepared queries, the norm and the projections are constants (no gradient is computed for
   * them). Both results belong to the caller; nothing else outlives the call. Call it off any enclosing gradient
   * tape (the loss does): the results are meant as values, and the caller passes `keyValueGradient` on as a gradient.
   */
  attendWithGradient?(
    keyValueInput: tf.Tensor3D,
    outputGradient: (output: tf.Tensor3D) => tf.Tensor3D,
  ): { output: tf.Tensor3D; keyValueGradient: tf.Tensor3D };
  /**
   * Optional: `A(h, x)` from `K(x)` and `V(x)` already projected by this layer (`projectedKeys`, `projectedValues`
   * `[batch, n, modelDim]`, e.g. rows of {@link AttentionProjections}): equal to `attend(x)`, with no projection (and
   * no pre-norm) of its own. Constants: call it off any gradient tape, for a target.
   */
  attendProjected?(projectedKeys: tf.Tensor3D, projectedValues: tf.Tensor3D): tf.Tensor3D;
  /** Releases the prepared queries; `attend` (and `attendWithGradient`) must not be called afterwards. */
  dispose(): void;
}

/** Everything a policy learns about a finished segment, handed to {@link MemoryPolicy.write}. */
export interface SegmentRecord {
  /** Per layer, the layer input of the current segment `[batch, T, modelDim]`, already detached. */
  layerInputs: readonly tf.Tensor3D[];
  /** int32 `[batch, T]` absolute positions of the current segment. */
  positions: tf.Tensor2D;
  /**
   * Per layer, attention probabilities `[batch, heads, T, keys]` over `[memory view; current]`,
   * present only when {@link MemoryPolicy.needsAttentionProbabilities} is true.
   */
  attentionProbabilities?: readonly tf.Tensor4D[];
  /**
   * Per layer, the projections of the training forward pass that produced this record (pre-update weights),
   * present only when {@link MemoryPolicy.needsAttentionProjections} is true and the model kept them; absent under
   * gradient checkpointing and outside training, where a policy recomputes what it needs.
   */
  attentionProjections?: readonly AttentionProjections[];
  /** Per layer, content-only attention with the layer's own projections (for compression losses). */
  contentAttention: readonly ContentAttention[];
  training: boolean;
}

/** Numbers a policy reports about its state, for logs and benchmarks. */
export interface PolicyTelemetry {
  /** Memory slots attention reads per layer (regular + compressed), averaged over batch rows. */
  memorySlots: number[];
  /** Further per-layer series, e.g. `meanSpan`, `maxSpan`, `compressedSlots`. */
  perLayer: Record<string, number[]>;
}

/** A state in a form that can be written to disk and read back. */
export interface SerializedMemoryState {
  /** Tensors keyed by stable names, e.g. `layer0.hidden`, `layer0.positions`, `layer0.extra.compressed`. */
  tensors: Record<string, tf.Tensor>;
  /** JSON-safe metadata (tokensSeen, batchSize, policy kind and version, per-policy extras). */
  meta: Record<string, unknown>;
}

/**
 * A memory method. The model knows only this interface: FIFO (Transformer-XL), compressive,
 * Expire-Span and Adaptive-Span are implementations, and users may write their own.
 *
 * Life cycle, per training step (the model drives it):
 * 1. `read(state, l)` for every layer inside the forward pass (within a tidy/gradient scope);
 * 2. `modulate(context)` for every layer (inside the gradient scope: its soft mask and
 *    auxiliary loss may depend on `variables()`);
 * 3. after the language-model gradient is computed and before any update is applied, optionally
 *    `separateLoss(state, record)` inside a second gradient computation over `separateVariables()`
 *    (so it sees the weights the forward pass used, and may reuse `record.attentionProjections`);
 *    then the LM update, and the separate one with its own optimizer;
 * 4. `write(state, record)` returns the next state; the caller then disposes what the old state
 *    held and the new one does not (see `disposeStateExcept`);
 * 5. `afterOptimizerStep()` (e.g. clamp Adaptive-Span's spans).
 */
export interface MemoryPolicy {
  readonly specificationVersion: 'v1';
  /** Short identifier, e.g. `fifo`, `compressive`, `expire-span`, `adaptive-span`. */
  readonly kind: string;
  /** Called once by the model; creates this policy's variables for the given shape. */
  build(dimensions: ModelDimensions): void;
  /** An empty state for `batchSize` rows starting at stream position 0. */
  initialState(batchSize: number): MemoryState;
  /** What layer `layer` reads. May return the state's own tensors or new ones (caller runs it in a tidy scope). */
  read(state: MemoryState, layer: number): MemoryView;
  /** Optional soft mask and auxiliary loss for one attention call. */
  modulate?(context: ModulationContext): AttentionModulation;
  /** Whether `write` needs `record.attentionProbabilities`. */
  readonly needsAttentionProbabilities: boolean;
  /** Optional: whether `separateLoss` can use `record.attentionProjections` (the model then keeps them; default false). */
  readonly needsAttentionProjections?: boolean;
  /**
   * The next state after a segment. Must not modify or dispose `state`; the tensors it puts in
   * the returned state are owned by that state (the model `tf.keep`s them).
   */
  write(state: MemoryState, record: SegmentRecord): MemoryState;
  /**
   * Variables trained by the task loss plus auxiliary losses.
   *
   * Naming convention (used by saved weights): name every variable `<unique scope>/<stable name>`,
   * e.g. `expire-span-3/layers.0.spanPredictor.weight`. tfjs needs the unique scope (no two
   * variables may share a name in one process); the model saves the variable as
   * `policy.<stable name>` (everything after the last `/`), so the stable name must not depend
   * on how many policies the process created.
   */
  variables(): tf.Variable[];
  /**
   * Variables outside the LM gradient: trained by `separateLoss` (with their own optimizer, e.g. a
   * compressor), or frozen when it returns null; the model saves them with the weights. Same
   * naming convention as `variables()`.
   */
  separateVariables(): tf.Variable[];
  /** Loss over `separateVariables()` for this segment, or null when there is nothing to train now. */
  separateLoss?(state: MemoryState, record: SegmentRecord): tf.Scalar | null;
  /** Called after every optimizer step (e.g. clamp learned spans into range). */
  afterOptimizerStep?(): void;
  /** Largest distance (in tokens) information can travel through memory, over all layers (SPEC 3). */
  temporalRange(numLayers: number): number;
  telemetry(state: MemoryState): PolicyTelemetry;
  /** JSON-safe options that recreate this policy (saved next to weights). */
  config(): Record<string, unknown>;
  serializeState(state: MemoryState): SerializedMemoryState;
  deserializeState(serialized: SerializedMemoryState): MemoryState;
  /** Disposes the policy's variables. */
  dispose(): void;
}
