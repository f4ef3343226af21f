// Relative-position multi-head attention over [memory; current segment] (SPEC 2.2, Transformer-XL Dai et al. 2019 sec. 3.3).
import * as tf from '@tensorflow/tfjs';
import {
  gatherRelativeScores,
  headApply,
  headScores,
  maskedSoftmax,
  matMul,
  relativeAttentionCore,
  relativeDistanceIndex,
  relShift,
  sinusoidEmbedding,
} from '@engram/kernels';
import { AttentionConfigError, AttentionInputError } from './errors.js';
import { hashSeed, seededNormal, uniqueScope } from './init.js';

/** Learned per-head biases u (content) and v (position) of SPEC 2.2, each `[heads, headDim]`. */
export interface PositionBiases {
  /** u: added to the query for the content term, `[heads, headDim]`. */
  u: tf.Variable;
  /** v: added to the query for the position term, `[heads, headDim]`. */
  v: tf.Variable;
}

/** Options of {@link createRelativeAttention}. */
export interface RelativeAttentionOptions {
  /** Model width D (a multiple of `numHeads`; D must be even for the sinusoid). */
  modelDim: number;
  /** Number of heads H; head width d = D / H. */
  numHeads: number;
  /** Distances above this share the sinusoid of `clampLength` (SPEC 2.2 `clampLen`); 0 or less: no clamp (Transformer-XL's `clamp_len <= 0`). */
  clampLength: number;
  /** Dropout rate on attention probabilities during training (default 0). */
  dropout?: number;
  /** Stable name prefix of this layer's variables, e.g. `layers.0.attention`. */
  namePrefix: string;
  /** Shared u and v (Transformer-XL shares them across layers). When absent, the layer owns its own. */
  positionBiases?: PositionBiases;
  /** Seed of the initial values and of dropout (default 0). */
  seed?: number;
  /** Standard deviation of the normal initialisation of every weight (default 0.02). */
  initStandardDeviation?: number;
  /**
   * Process-unique prefix of the TensorFlow.js variable names (`<scope>/<namePrefix>.query.weight`);
   * tfjs refuses two variables of the same name. Default: a fresh `attention<N>`.
   */
  scope?: string;
}

/** Options of {@link createPositionBiases}. */
export interface PositionBiasesOptions {
  numHeads: number;
  headDim: number;
  /** Stable name prefix: the variables are `<namePrefix>.u_bias` and `<namePrefix>.v_bias`. */
  namePrefix: string;
  seed?: number;
  initStandardDeviation?: number;
  scope?: string;
}

/** One attention call: queries from the current segment, keys over `[memory; current]`. */
export interface AttentionInput {
  /** Normalised current-segment inputs, `[batch, T, modelDim]`. */
  queries: tf.Tensor3D;
  /** Normalised `[memory; current]` inputs, `[batch, K, modelDim]`. */
  keys: tf.Tensor3D;
  /** int32 `[batch, T]` absolute positions of the queries. */
  queryPositions: tf.Tensor2D;
  /** int32 `[batch, K]` absolute positions of the keys. */
  keyPositions: tf.Tensor2D;
  /**
   * True when in every row the keys are the K consecutive positions ending at the last query
   * (Transformer-XL memory): the fast rel-shift path. False: the gather path for arbitrary positions.
   */
  contiguous: boolean;
  /** Soft mask over keys in [0, 1], broadcastable to `[batch, heads, T, K]` (span methods, SPEC 4). */
  softMask?: tf.Tensor4D;
  /** Also return the attention probabilities (after masking and renormalisation, before dropout). */
  returnProbabilities?: boolean;
  /** Also return the projected queries, keys and values ({@link AttentionOutput.projections}). */
  returnProjections?: boolean;
  /** Enables dropout on the attention probabilities. */
  training?: boolean;
  /**
   * Transformer-XL's `same_length` mask: when set, a query at position t sees only the keys at
   * distance `t - t_j < window` (on top of the causal mask), so every query sees the same number
   * of keys once the memory is full. Absent: the causal mask alone.
   */
  window?: number;
  /**
   * Gather path only (ignored when `contiguous`): a host-side bound on the distance `t_i - t_j` between any query and
   * any key it may attend to, e.g. a policy's span limit or the age of its oldest memory. Keys farther from a query
   * must be hidden from it (by the causal mask, `window` or a zero `softMask`); their distances are clipped to this
   * bound. It lowers the table of distances `0 .. min(maxDistance, clampLength, window - 1)`; when that table has at
   * most 2 rows per key (`bound + 1 <= 2K`) the position term scores it and the clamped distances index it directly:
   * no host read of the positions. A larger bound (or none, with the default clamp 1000) reads the distance index
   * back once and scores only the distinct distances (README, gather path). It is a promise, not checked (checking
   * would need the read it saves): a bound below a visible pair's real distance gives that pair the bound's
   * sinusoid. The model derives it from the memory view's `oldestPosition`.
   */
  maxDistance?: number;
}

/**
 * The dropout stream position of one attention layer (JSON-safe). Dropout call n of a layer uses the
 * seed `hashSeed(seed, "<namePrefix>.dropout.<n>")`, so restoring the counter replays the same masks.
 */
export interface AttentionRandomState {
  /** Number of dropout masks drawn so far (training calls with dropout > 0). */
  dropoutCalls: number;
}

/** Result of {@link RelativeAttention.apply}; the caller owns the tensors. */
export interface AttentionOutput {
  /** `[batch, T, modelDim]` after the output projection. */
  output: tf.Tensor3D;
  /** `[batch, heads, T, K]`, present when `returnProbabilities` was set. */
  probabilities?: tf.Tensor4D;
  /**
   * Present when `returnProjections` was set: `queries` `queries W_q` `[batch, T, modelDim]` (no scale, no position
   * bias), `keys` `keys W_k` and `values` `keys W_v` `[batch, K, modelDim]`, as this call computed them.
   */
  projections?: { queries: tf.Tensor3D; keys: tf.Tensor3D; values: tf.Tensor3D };
}

/** What `contentAttention.forQueries` and `forProjectedQueries` return (the `QueryBoundAttention` of `@engram/memory`). */
export interface BoundContentAttention {
  attend(keyValueInput: tf.Tensor3D): tf.Tensor3D;
  attendWithGradient(
    keyValueInput: tf.Tensor3D,
    outputGradient: (output: tf.Tensor3D) => tf.Tensor3D,
  ): { output: tf.Tensor3D; keyValueGradient: tf.Tensor3D };
  attendProjected(projectedKeys: tf.Tensor3D, projectedValues: tf.Tensor3D): tf.Tensor3D;
  dispose(): void;
}

/** The largest int32: a clamp no distance reaches (used for `clampLength <= 0`). */
const NO_CLAMP = 2 ** 31 - 1;

/**
 * The gather path scores the whole table `0 .. bound` (no host read) when it has at most this many rows per key, the
 * bound being the clamp lowered by `maxDistance` and `window`; else only the distinct distances (one read). A large
 * `maxDistance` does not force a table: one far above the keys costs more than the read (README, gather path).
 */
const TABLE_KEYS_FACTOR = 2;

function checkPositiveInteger(name: string, value: unknown, minimum = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimum) {
    throw new AttentionConfigError(
      `createRelativeAttention: ${name} must be an integer >= ${minimum}, got ${JSON.stringify(value)}.`,
    );
  }
  return value;
}

function checkRate(name: string, value: number): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    throw new AttentionConfigError(`createRelativeAttention: ${name} must be a rate in [0, 1), got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** Creates u and v (`[heads, headDim]`, seeded normal) to share across the layers of a model. */
export function createPositionBiases(options: PositionBiasesOptions): PositionBiases {
  const numHeads = checkPositiveInteger('numHeads', options.numHeads);
  const headDim = checkPositiveInteger('headDim', options.headDim);
  const seed = options.seed ?? 0;
  const std = options.initStandardDeviation ?? 0.02;
  const scope = options.scope ?? uniqueScope('attention');
  const make = (suffix: string): tf.Variable => {
    const stable = `${options.namePrefix}.${suffix}`;
    const initial = seededNormal([numHeads, headDim], std, seed, stable);
    const variable = tf.variable(initial, true, `${scope}/${stable}`);
    initial.dispose();
    return variable;
  };
  return { u: make('u_bias'), v: make('v_bias') };
}

/**
 * One layer's relative multi-head attention (SPEC 2.2):
 * `s_ij = [ (q_i + u) . k_j + (q_i + v) . W_r R(t_i - t_j) ] / sqrt(d)`, causal by position
 * (`t_j <= t_i`), optional soft mask, then `softmax(s) V` per head and the output projection.
 *
 * Variables (stable names, `x @ W` convention so weights are `[in, out]`):
 * `<prefix>.query.weight`, `<prefix>.key.weight`, `<prefix>.value.weight`, `<prefix>.output.weight`,
 * `<prefix>.position.weight` (W_r), all `[D, D]` without bias as in Transformer-XL; and, unless
 * shared biases were given, `<prefix>.u_bias`, `<prefix>.v_bias` `[H, d]`.
 *
 * Projections stay token-major (`[batch, length, D]`, head h in columns `h*d .. h*d+d-1`); the per-head
 * products (`headScores`, `headApply` of @engram/kernels) read the heads in place, so no head split or
 * merge transpose runs. Scores are `[batch, heads, T, K]`.
 */
export class RelativeAttention {
  readonly modelDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly clampLength: number;
  readonly dropout: number;
  readonly namePrefix: string;
  /** `[D, D]` projection weights (x @ W). */
  readonly query: tf.Variable;
  readonly key: tf.Variable;
  readonly value: tf.Variable;
  readonly output: tf.Variable;
  /** W_r, `[D, D]`: projects the sinusoid R of a distance. */
  readonly position: tf.Variable;
  /** u and v, `[H, d]` (possibly shared with other layers). */
  readonly positionBiases: PositionBiases;
  /** The clamp actually applied: `clampLength`, or {@link NO_CLAMP} when it is 0 or less. */
  private readonly effectiveClamp: number;
  private readonly ownsBiases: boolean;
  private readonly seed: number;
  private dropoutCalls = 0;

  constructor(options: RelativeAttentionOptions) {
    this.modelDim = checkPositiveInteger('modelDim', options.modelDim, 2);
    this.numHeads = checkPositiveInteger('numHeads', options.numHeads);
    if (this.modelDim % this.numHeads !== 0) {
      throw new AttentionConfigError(
        `createRelativeAttention: modelDim (${this.modelDim}) must be divisible by numHeads (${this.numHeads}); pick a head count that divides the width.`,
      );
    }
    if (this.modelDim % 2 !== 0) {
      throw new AttentionConfigError(
        `createRelativeAttention: modelDim must be even (the sinusoid R has sin and cos halves), got ${this.modelDim}.`,
      );
    }
    this.headDim = this.modelDim / this.numHeads;
    this.clampLength = checkPositiveInteger('clampLength', options.clampLength, Number.MIN_SAFE_INTEGER);
    this.effectiveClamp = this.clampLength > 0 ? this.clampLength : NO_CLAMP;
    this.dropout = checkRate('dropout', options.dropout ?? 0);
    if (typeof options.namePrefix !== 'string' || options.namePrefix.length === 0 || options.namePrefix.includes('/')) {
      throw new AttentionConfigError(
        `createRelativeAttention: namePrefix must be a non-empty string without "/", e.g. "layers.0.attention", got ${JSON.stringify(options.namePrefix)}.`,
      );
    }
    this.namePrefix = options.namePrefix;
    this.seed = options.seed ?? 0;
    const std = options.initStandardDeviation ?? 0.02;
    const scope = options.scope ?? uniqueScope('attention');
    const make = (suffix: string): tf.Variable => {
      const stable = `${this.namePrefix}.${suffix}`;
      const initial = seededNormal([this.modelDim, this.modelDim], std, this.seed, stable);
      const variable = tf.variable(initial, true, `${scope}/${stable}`);
      initial.dispose();
      return variable;
    };
    this.query = make('query.weight');
    this.key = make('key.weight');
    this.value = make('value.weight');
    this.output = make('output.weight');
    this.position = make('position.weight');
    if (options.positionBiases) {
      const { u, v } = options.positionBiases;
      for (const [name, bias] of [['u', u], ['v', v]] as const) {
        if (bias.shape.length !== 2 || bias.shape[0] !== this.numHeads || bias.shape[1] !== this.headDim) {
          throw new AttentionConfigError(
            `createRelativeAttention: positionBiases.${name} must be [${this.numHeads}, ${this.headDim}] ([heads, headDim]), got [${bias.shape.join(', ')}].`,
          );
        }
      }
      this.positionBiases = options.positionBiases;
      this.ownsBiases = false;
    } else {
      this.positionBiases = createPositionBiases({
        numHeads: this.numHeads,
        headDim: this.headDim,
        namePrefix: this.namePrefix,
        seed: this.seed,
        initStandardDeviation: std,
        scope,
      });
      this.ownsBiases = true;
    }
  }

  /** The variables this layer owns (shared position biases are not included: their owner lists them). */
  variables(): tf.Variable[] {
    const owned = [this.query, this.key, this.value, this.output, this.position];
    if (this.ownsBiases) owned.push(this.positionBiases.u, this.positionBiases.v);
    return owned;
  }

  /** Disposes the variables this layer owns. */
  dispose(): void {
    for (const variable of this.variables()) variable.dispose();
  }

  /** Where this layer's dropout stream stands (save it with a checkpoint). */
  getRandomState(): AttentionRandomState {
    return { dropoutCalls: this.dropoutCalls };
  }

  /** Restores a state from {@link getRandomState}: the following training calls draw the same dropout masks again. */
  setRandomState(state: AttentionRandomState): void {
    const calls: unknown = (state as { dropoutCalls?: unknown } | null)?.dropoutCalls;
    if (typeof calls !== 'number' || !Number.isSafeInteger(calls) || calls < 0) {
      throw new AttentionInputError(
        `RelativeAttention.setRandomState (${this.namePrefix}): state.dropoutCalls must be an integer >= 0 (from getRandomState()), got ${JSON.stringify(calls)}.`,
      );
    }
    this.dropoutCalls = calls;
  }

  /** Checks shapes and dtypes of an attention call; returns [batch, queries, keys]. */
  private validate(input: AttentionInput): [number, number, number] {
    const { queries, keys, queryPositions, keyPositions, softMask } = input;
    const fail = (message: string): never => {
      throw new AttentionInputError(`RelativeAttention.apply (${this.namePrefix}): ${message}`);
    };
    if (!(queries instanceof tf.Tensor) || queries.rank !== 3 || queries.shape[2] !== this.modelDim) {
      fail(`queries must be [batch, T, ${this.modelDim}], got ${describe(queries)}.`);
    }
    if (!(keys instanceof tf.Tensor) || keys.rank !== 3 || keys.shape[2] !== this.modelDim || keys.shape[0] !== queries.shape[0]) {
      fail(`keys must be [${queries.shape[0]}, K, ${this.modelDim}] (same batch as queries), got ${describe(keys)}.`);
    }
    const [batch, queryCount] = queries.shape;
    const keyCount = keys.shape[1];
    const checkPositions = (name: string, positions: tf.Tensor, length: number): void => {
      if (!(positions instanceof tf.Tensor) || positions.dtype !== 'int32' || positions.rank !== 2) {
        fail(`${name} must be int32 [batch, ${length}], got ${describe(positions)}.`);
      }
      if ((positions.shape[0] !== batch && positions.shape[0] !== 1) || positions.shape[1] !== length) {
        fail(`${name} must be [${batch} or 1, ${length}], got [${positions.shape.join(', ')}].`);
      }
    };
    checkPositions('queryPositions', queryPositions, queryCount);
    checkPositions('keyPositions', keyPositions, keyCount);
    if (input.contiguous && keyCount < queryCount) {
      fail(
        `contiguous keys need at least as many keys as queries (keys = [memory; current]), got ${keyCount} keys for ${queryCount} queries. Pass contiguous: false for other layouts.`,
      );
    }
    if (softMask !== undefined) {
      if (!(softMask instanceof tf.Tensor) || softMask.rank !== 4) {
        fail(`softMask must be a rank-4 tensor broadcastable to [${batch}, ${this.numHeads}, ${queryCount}, ${keyCount}], got ${describe(softMask)}.`);
      }
      const target = [batch, this.numHeads, queryCount, keyCount];
      softMask.shape.forEach((size, axis) => {
        if (size !== 1 && size !== target[axis]) {
          fail(`softMask [${softMask.shape.join(', ')}] does not broadcast to [${target.join(', ')}] ([batch, heads, T, K]).`);
        }
      });
    }
    if (input.window !== undefined && (typeof input.window !== 'number' || !Number.isInteger(input.window) || input.window < 1)) {
      fail(`window must be an integer >= 1 (the number of keys every query sees), got ${JSON.stringify(input.window)}.`);
    }
    if (input.maxDistance !== undefined && (typeof input.maxDistance !== 'number' || !Number.isSafeInteger(input.maxDistance) || input.maxDistance < 0)) {
      fail(
        `maxDistance must be an integer >= 0 (an upper bound on the distance from a query to any key it may attend to), got ${JSON.stringify(input.maxDistance)}. Leave it out when no bound is known.`,
      );
    }
    return [batch, queryCount, keyCount];
  }

  /**
   * The largest distance bucket of the gather path's index: the clamp, lowered by the input's `maxDistance` and
   * `window` (every visible distance is below the window). A table of buckets `0 .. bound` is scored when it has at
   * most {@link TABLE_KEYS_FACTOR} rows per key (`bound + 1 <= 2K`), whichever of the three set the bound; otherwise
   * (`table` false) one host read finds the distinct distances.
   */
  private gatherBucketBound(input: AttentionInput, keyCount: number): { bound: number; table: boolean } {
    let bound = this.effectiveClamp;
    if (input.maxDistance !== undefined) bound = Math.min(bound, input.maxDistance);
    if (input.window !== undefined) bound = Math.min(bound, input.window - 1);
    return { bound, table: bound + 1 <= TABLE_KEYS_FACTOR * keyCount };
  }

  /**
   * The projected sinusoids of the position term and, on the gather path, the column of each pair's distance.
   * @param distanceIndex int32 `[B or 1, T, K]` distances clamped to the gather bound (read only by the distinct fallback)
   * @returns `positions` `[1, P, D]` (`P = K`, distances K-1 .. 0, on the rel-shift path; `P = bound + 1` for the
   *   table; the distinct distances otherwise) and `positionIndex` int32 `[B or 1, T, K]` (gather path only)
   */
  private positionInputs(
    keyCount: number,
    contiguous: boolean,
    gather: { bound: number; table: boolean },
    distanceIndex: tf.Tensor3D,
  ): { positions: tf.Tensor3D; positionIndex?: tf.Tensor3D } {
    const project = (sinusoid: tf.Tensor2D): tf.Tensor3D =>
      // R (P x D) @ W_r, shared by every batch row: [1, P, D]. R is projected once per call.
      tf.expandDims(matMul(sinusoid, this.position as tf.Tensor2D), 0) as tf.Tensor3D;
    if (contiguous) {
      // Distances K-1 .. 0 (clamped), aligned to each query by the rel-shift trick.
      return { positions: project(sinusoidRows(Array.from({ length: keyCount }, (_, j) => Math.min(keyCount - 1 - j, this.effectiveClamp)), this.modelDim)) };
    }
    if (gather.table) {
      // Every bucket 0 .. bound: the clamped distance is its own column, so the index goes to the gather as it is.
      return { positions: project(sinusoidRows(Array.from({ length: gather.bound + 1 }, (_, distance) => distance), this.modelDim)), positionIndex: distanceIndex };
    }
    // Unbounded clamp, or a bound far above the key count: score only the distinct distances (one host read).
    const { distinct, slotIndex } = distinctDistanceSlots(distanceIndex);
    return { positions: project(sinusoidRows(distinct, this.modelDim)), positionIndex: slotIndex };
  }

  /**
   * Position scores of every query against every key, `[B, H, T, K]` (the unfused path).
   * @param queriesWithV `(q + v) / sqrt(d)`, token-major `[B, T, D]`
   * @param distanceIndex int32 `[B or 1, T, K]` clamped distances (read only by the gather path)
   */
  private positionScores(
    queriesWithV: tf.Tensor3D,
    keyCount: number,
    contiguous: boolean,
    gather: { bound: number; table: boolean },
    distanceIndex: tf.Tensor3D,
  ): tf.Tensor4D {
    const { positions, positionIndex } = this.positionInputs(keyCount, contiguous, gather, distanceIndex);
    const scores = headScores(queriesWithV, positions, this.numHeads); // [B, H, T, P]
    if (positionIndex === undefined) return relShift(scores);
    const [batch, queries] = queriesWithV.shape;
    const index = positionIndex.shape[0] === batch ? positionIndex : (tf.broadcastTo(positionIndex, [batch, queries, keyCount]) as tf.Tensor3D);
    return gatherRelativeScores(scores, index, { validateIndex: false });
  }

  /** Attention of the current segment over `[memory; current]` (SPEC 2.2). */
  apply(input: AttentionInput): AttentionOutput {
    const [batch, queryCount, keyCount] = this.validate(input);
    const { numHeads, headDim, modelDim } = this;
    const applyDropout = input.training === true && this.dropout > 0;
    const dropoutSeed = applyDropout ? hashSeed(this.seed, `${this.namePrefix}.dropout.${this.dropoutCalls++}`) : 0;
    return tf.tidy(() => {
      const scale = 1 / Math.sqrt(headDim);
      const keys2d = tf.reshape(input.keys, [batch * keyCount, modelDim]) as tf.Tensor2D;
      const project = (x2d: tf.Tensor2D, weight: tf.Variable, length: number): tf.Tensor3D =>
        tf.reshape(matMul(x2d, weight as tf.Tensor2D), [batch, length, modelDim]) as tf.Tensor3D;
      // Token-major [B, length, D] throughout: head h is columns h*d .. h*d+d-1, read in place by the head products.
      const projectedQueries = project(tf.reshape(input.queries, [batch * queryCount, modelDim]) as tf.Tensor2D, this.query, queryCount);
      const projectedKeys = project(keys2d, this.key, keyCount);
      const projectedValues = project(keys2d, this.value, keyCount);
      const u = tf.reshape(this.positionBiases.u, [modelDim]);
      const v = tf.reshape(this.positionBiases.v, [modelDim]);
      const queriesWithU = tf.mul(tf.add(projectedQueries, u), scale) as tf.Tensor3D;
      const queriesWithV = tf.mul(tf.add(projectedQueries, v), scale) as tf.Tensor3D;
      // Contiguous keys have the same relative layout in every row: row 0's mask serves all rows.
      const rowsForMask = input.contiguous ? 1 : -1;
      const maskQueryPositions = tf.slice(input.queryPositions, [0, 0], [rowsForMask, -1]) as tf.Tensor2D;
      const maskKeyPositions = tf.slice(input.keyPositions, [0, 0], [rowsForMask, -1]) as tf.Tensor2D;
      // same_length: the mask also hides keys at distance >= window ([B or 1, T, K], 1 = visible).
      // The gather path's index is clamped to the table it reads (the causal mask does not depend on the clamp).
      const gather = this.gatherBucketBound(input, keyCount);
      const distance = relativeDistanceIndex(maskQueryPositions, maskKeyPositions, input.contiguous ? this.effectiveClamp : gather.bound, {
        ...(input.window === undefined ? {} : { window: input.window }),
      });
      const causal = distance.causal;
      const mask = tf.expandDims(causal, 1) as tf.Tensor4D; // [B or 1, 1, T, K]
      const softMask = input.softMask && input.softMask.dtype !== 'float32' ? (tf.cast(input.softMask, 'float32') as tf.Tensor4D) : input.softMask;
      const projections = input.returnProjections ? { projections: { queries: projectedQueries, keys: projectedKeys, values: projectedValues } } : {};
      if (!input.returnProbabilities) {
        // One taped op from the biased queries to the weighted values: no score-sized tensor outlives this layer's
        // backward pass (the probabilities are returned only by the unfused path below).
        const { positions, positionIndex } = this.positionInputs(keyCount, input.contiguous, gather, distance.index);
        const attended = relativeAttentionCore(queriesWithU, queriesWithV, projectedKeys, projectedValues, positions, {
          heads: numHeads,
          mask,
          ...(positionIndex ? { positionIndex: positionIndex.shape[0] === batch ? positionIndex : (tf.tile(positionIndex, [batch, 1, 1]) as tf.Tensor3D) } : {}),
          ...(softMask ? { softMask } : {}),
          ...(applyDropout ? { dropout: { rate: this.dropout, seed: dropoutSeed } } : {}),
        });
        return { output: project(tf.reshape(attended, [batch * queryCount, modelDim]) as tf.Tensor2D, this.output, queryCount), ...projections };
      }
      const content = headScores(queriesWithU, projectedKeys, numHeads); // [B, H, T, K]
      const scores = tf.add(content, this.positionScores(queriesWithV, keyCount, input.contiguous, gather, distance.index));
      const probabilities = maskedSoftmax(scores, softMask ? { mask, softMask } : { mask }) as tf.Tensor4D;
      const used = applyDropout ? (tf.dropout(probabilities, this.dropout, undefined, dropoutSeed) as tf.Tensor4D) : probabilities;
      const attended = headApply(used, projectedValues, numHeads); // [B, T, D]
      const output = project(tf.reshape(attended, [batch * queryCount, modelDim]) as tf.Tensor2D, this.output, queryCount);
      return { output, probabilities, ...projections };
    }) as AttentionOutput;
  }

  /**
   * Content-only attention with this layer's projections (SPEC 3.2 attention-reconstruction):
   * `softmax(Q(queryInput) K(keyValueInput)^T / sqrt(d)) V(keyValueInput)` per head, heads merged;
   * no position terms, no mask, no output projection, no norm (the model applies its pre-norm).
   * `contentAttention.forQueries(queryInput)` projects and scales the queries once and returns `attend(keyValueInput)`
   * with the same result (and gradient with respect to the key input) for any number of key inputs,
   * `attendWithGradient(keyValueInput, outputGradient)` (the output and its key-input gradient by a hand-written
   * backward pass, see {@link RelativeAttention.attendContentWithGradient}), `attendProjected(K(x), V(x))` (the same
   * output from keys and values this layer already projected, e.g. by `apply` with `returnProjections`), plus
   * `dispose()` for the kept queries (the `ContentAttention` contract of `@engram/memory`).
   * `contentAttention.forProjectedQueries(Q(queryInput))` is `forQueries` for queries already projected (only scaled).
   * @param queryInput `[batch, queries, D]`
   * @param keyValueInput `[batch, n, D]`
   * @returns `[batch, queries, D]`
   */
  readonly contentAttention: ((queryInput: tf.Tensor3D, keyValueInput: tf.Tensor3D) => tf.Tensor3D) & {
    forQueries(queryInput: tf.Tensor3D): BoundContentAttention;
    forProjectedQueries(projectedQueries: tf.Tensor3D): BoundContentAttention;
  } = Object.assign(
    (queryInput: tf.Tensor3D, keyValueInput: tf.Tensor3D): tf.Tensor3D => {
      this.checkContentInputs(queryInput, keyValueInput);
      return tf.tidy(() => this.attendContent(this.contentQueries(queryInput), keyValueInput).output);
    },
    {
      forQueries: (queryInput: tf.Tensor3D): BoundContentAttention => {
        this.checkContentInputs(queryInput, queryInput);
        return this.boundContent(tf.tidy(() => tf.keep(this.contentQueries(queryInput))));
      },
      forProjectedQueries: (projectedQueries: tf.Tensor3D): BoundContentAttention => {
        this.checkContentInputs(projectedQueries, projectedQueries);
        return this.boundContent(tf.tidy(() => tf.keep(tf.mul(projectedQueries, 1 / Math.sqrt(this.headDim)) as tf.Tensor3D)));
      },
    },
  );

  /** The bound attention of `contentAttention.forQueries` over scaled queries `[batch, queries, D]` it now owns. */
  private boundContent(queries: tf.Tensor3D): BoundContentAttention {
    const checkLive = (method: string, keyValueInput: tf.Tensor3D): void => {
      if (queries.isDisposed) {
        throw new AttentionInputError(
          `RelativeAttention.contentAttention.forQueries (${this.namePrefix}): ${method}() was called after dispose(); call forQueries(queryInput) again for fresh queries.`,
        );
      }
      this.checkContentInputs(queries, keyValueInput);
    };
    return {
      attend: (keyValueInput: tf.Tensor3D): tf.Tensor3D => {
        checkLive('attend', keyValueInput);
        return tf.tidy(() => this.attendContent(queries, keyValueInput).output);
      },
      attendWithGradient: (keyValueInput: tf.Tensor3D, outputGradient: (output: tf.Tensor3D) => tf.Tensor3D) => {
        checkLive('attendWithGradient', keyValueInput);
        return this.attendContentWithGradient(queries, keyValueInput, outputGradient);
      },
      attendProjected: (projectedKeys: tf.Tensor3D, projectedValues: tf.Tensor3D): tf.Tensor3D => {
        checkLive('attendProjected', projectedKeys);
        this.checkContentInputs(queries, projectedValues);
        if (projectedKeys.shape[1] !== projectedValues.shape[1]) {
          throw new AttentionInputError(
            `RelativeAttention.contentAttention (${this.namePrefix}): attendProjected needs keys and values of the same slots, got ${describe(projectedKeys)} and ${describe(projectedValues)}.`,
          );
        }
        return tf.tidy(() => headApply(tf.softmax(headScores(queries, projectedKeys, this.numHeads)) as tf.Tensor4D, projectedValues, this.numHeads));
      },
      dispose: (): void => queries.dispose(),
    };
  }

  private checkContentInputs(queryInput: tf.Tensor3D, keyValueInput: tf.Tensor3D): void {
    if (queryInput.rank !== 3 || keyValueInput.rank !== 3 || queryInput.shape[2] !== this.modelDim || keyValueInput.shape[2] !== this.modelDim || queryInput.shape[0] !== keyValueInput.shape[0]) {
      throw new AttentionInputError(
        `RelativeAttention.contentAttention (${this.namePrefix}): expected queryInput [batch, queries, ${this.modelDim}] and keyValueInput [batch, n, ${this.modelDim}] with the same batch, got ${describe(queryInput)} and ${describe(keyValueInput)}.`,
      );
    }
  }

  /** `Q(queryInput) / sqrt(d)`: `[batch, queries, D]` -> `[batch, queries, D]` (heads side by side). */
  private contentQueries(queryInput: tf.Tensor3D): tf.Tensor3D {
    const [batch, queryCount] = queryInput.shape;
    const flat = tf.reshape(queryInput, [batch * queryCount, this.modelDim]) as tf.Tensor2D;
    const projected = tf.reshape(matMul(flat, this.query as tf.Tensor2D), [batch, queryCount, this.modelDim]);
    return tf.mul(projected, 1 / Math.sqrt(this.headDim)) as tf.Tensor3D;
  }

  /**
   * `softmax(queries K(x)^T) V(x)` per head: queries `[batch, queries, D]` (scaled), x `[batch, n, D]` -> output
   * `[batch, queries, D]`, with the values `V(x)` `[batch, n, D]` and probabilities `[batch, heads, queries, n]` it
   * was made from (the caller's tidy scope owns all three).
   * The key and value products are tfjs's own, whose recorded gradient is taken only for what a gradient asks for: a
   * gradient with respect to `x` alone (the attention-reconstruction loss) computes no `[D, D]` weight gradients.
   */
  private attendContent(queries: tf.Tensor3D, keyValueInput: tf.Tensor3D): { output: tf.Tensor3D; values: tf.Tensor3D; probabilities: tf.Tensor4D } {
    const [batch, count] = keyValueInput.shape;
    const flat = tf.reshape(keyValueInput, [batch * count, this.modelDim]) as tf.Tensor2D;
    const keys = tf.reshape(tf.matMul(flat, this.key), [batch, count, this.modelDim]) as tf.Tensor3D;
    const values = tf.reshape(tf.matMul(flat, this.value), [batch, count, this.modelDim]) as tf.Tensor3D;
    const probabilities = tf.softmax(headScores(queries, keys, this.numHeads)) as tf.Tensor4D; // [B, H, queries, n]
    return { output: headApply(probabilities, values, this.numHeads), values, probabilities };
  }

  /**
   * {@link attendContent}'s output `O` and the gradient of a loss of it with respect to `x`, backward by hand (no
   * tape; the queries and the projections are constants, so their gradients are not formed). Per head, with
   * `P = softmax(S)`, `S = Q K^T`, `K = x Wk`, `V = x Wv` and `G = outputGradient(O)`:
   * `dV = P^T G`, `dP = G V^T`, `dS = P * (dP - rowsum(dP * P))`, `dK = dS^T Q` (Q carries the `1/sqrt(d)`), then
   * `dx = dK Wk^T + dV Wv^T`. The transposed products run on `P^T`, `dP^T` and `dS^T` `[batch, heads, n, queries]`
   * (one transpose of `P`), so they are the same head products as the forward pass.
   * @param queries scaled queries `[batch, queries, D]`
   * @param keyValueInput x `[batch, n, D]`
   * @param outputGradient `O [batch, queries, D]` -> `dL/dO` of the same shape
   * @returns `output` `[batch, queries, D]` and `keyValueGradient` `[batch, n, D]` (the caller owns both)
   */
  private attendContentWithGradient(
    queries: tf.Tensor3D,
    keyValueInput: tf.Tensor3D,
    outputGradient: (output: tf.Tensor3D) => tf.Tensor3D,
  ): { output: tf.Tensor3D; keyValueGradient: tf.Tensor3D } {
    return tf.tidy(() => {
      const { numHeads, modelDim } = this;
      const [batch, count] = keyValueInput.shape;
      const { output, values, probabilities } = this.attendContent(queries, keyValueInput);
      const upstream = outputGradient(output);
      if (!(upstream instanceof tf.Tensor) || upstream.shape.join() !== output.shape.join()) {
        throw new AttentionInputError(
          `RelativeAttention.contentAttention.forQueries (${this.namePrefix}): attendWithGradient's outputGradient must return the gradient of the output, shaped like it [${output.shape.join(', ')}], got ${describe(upstream)}.`,
        );
      }
      const transposed = tf.transpose(probabilities, [0, 1, 3, 2]) as tf.Tensor4D; // P^T [B, H, n, queries]
      const valueGradient = headApply(transposed, upstream, numHeads); // [B, n, D]
      const transposedScoreGradient = tf.tidy(() => {
        const probabilityGradient = headScores(values, upstream, numHeads); // dP^T [B, H, n, queries]
        const rowSums = tf.sum(tf.mul(probabilityGradient, transposed), 2, true); // [B, H, 1, queries]
        return tf.mul(transposed, tf.sub(probabilityGradient, rowSums)) as tf.Tensor4D; // dS^T
      });
      const keyGradient = headApply(transposedScoreGradient, queries, numHeads); // [B, n, D]
      const rows = batch * count;
      const inputGradient = tf.add(
        tf.matMul(tf.reshape(keyGradient, [rows, modelDim]), this.key, false, true),
        tf.matMul(tf.reshape(valueGradient, [rows, modelDim]), this.value, false, true),
      );
      return { output, keyValueGradient: tf.reshape(inputGradient, [batch, count, modelDim]) as tf.Tensor3D };
    });
  }
}

/**
 * The distinct values of a clamped distance index, ascending, and the index rewritten to slots into them
 * (`slot[b, i, j] = rank of distance[b, i, j] among the distinct values`). One read of the index, then typed-array
 * passes (a presence table over 0 .. max and a running rank): linear in the index size, no Set, Map or sort.
 * @param distanceIndex int32 `[B, T, K]`, values >= 0
 * @returns `distinct` (host numbers) and int32 `slotIndex` of the index's shape (the caller owns it)
 */
export function distinctDistanceSlots(distanceIndex: tf.Tensor3D): { distinct: number[]; slotIndex: tf.Tensor3D } {
  const values = distanceIndex.dataSync() as Int32Array;
  let largest = 0;
  for (let position = 0; position < values.length; position++) if ((values[position] as number) > largest) largest = values[position] as number;
  // A clamp of 2^31 - 1 with far-apart positions could make the table huge: fall back to sorting the distinct values.
  if (largest > 16 * values.length + 4096) {
    const distinct = Array.from(new Set(values)).sort((a, b) => a - b);
    const slotOf = new Map(distinct.map((distance, slot) => [distance, slot] as const));
    const remapped = Int32Array.from(values, (value) => slotOf.get(value) as number);
    return { distinct, slotIndex: tf.tensor3d(remapped, distanceIndex.shape, 'int32') };
  }
  const slotOf = new Int32Array(largest + 1).fill(-1);
  for (let position = 0; position < values.length; position++) slotOf[values[position] as number] = 0;
  const distinct: number[] = [];
  for (let distance = 0; distance <= largest; distance++) {
    if (slotOf[distance] === 0) {
      slotOf[distance] = distinct.length;
      distinct.push(distance);
    }
  }
  const remapped = new Int32Array(values.length);
  for (let position = 0; position < values.length; position++) remapped[position] = slotOf[values[position] as number] as number;
  return { distinct, slotIndex: tf.tensor3d(remapped, distanceIndex.shape, 'int32') };
}

/**
 * Host copies of the sinusoid table R(0), R(1), ... per backend and width: rows `[n, D]` row-major, as computed by
 * `sinusoidEmbedding` on that backend (so the values are the ones it gives), grown on demand. sin and cos run at
 * about 30 M values/s on wasm (8.7 ms for the 1001 x 256 table of the bench's small shape, every layer, every
 * call); a copy of the rows needed costs a fraction of that. Read back once per table growth, never per step.
 */
const sinusoidCache = new Map<string, Float32Array>();

/** The most values kept per width (16 MB of float32: 16384 rows at width 256); larger distances are computed per call. */
const SINUSOID_CACHE_VALUES = 1 << 22;

/**
 * `sinusoidEmbedding(distances, dim)` from the host cache: float32 `[distances.length, dim]`. Falls back to computing
 * it when a distance is beyond the cache ({@link SINUSOID_CACHE_VALUES} values, at least 1024 rows).
 * @param distances integers >= 0
 */
function sinusoidRows(distances: readonly number[], dim: number): tf.Tensor2D {
  let largest = 0;
  for (const distance of distances) if (distance > largest) largest = distance;
  const cacheRows = Math.max(1024, Math.floor(SINUSOID_CACHE_VALUES / dim));
  if (largest >= cacheRows) return sinusoidEmbedding(distances, dim);
  const key = `${tf.getBackend()}:${dim}`;
  let table = sinusoidCache.get(key);
  if (table === undefined || table.length < (largest + 1) * dim) {
    // Grow in steps of 1024 rows so a slowly rising bound does not recompute the table every call.
    const rows = Math.min(cacheRows, Math.ceil((largest + 1) / 1024) * 1024);
    const computed = sinusoidEmbedding(Array.from({ length: rows }, (_, distance) => distance), dim);
    table = (computed.dataSync() as Float32Array).slice();
    computed.dispose();
    sinusoidCache.set(key, table);
  }
  const values = new Float32Array(distances.length * dim);
  distances.forEach((distance, row) => values.set(table.subarray(distance * dim, (distance + 1) * dim), row * dim));
  return tf.tensor2d(values, [distances.length, dim], 'float32');
}

function describe(value: unknown): string {
  if (value instanceof tf.Tensor) return `${value.dtype} [${value.shape.join(', ')}]`;
  return value === null ? 'null' : typeof value;
}

/** Creates one layer's relative multi-head attention (see {@link RelativeAttention}). */
export function createRelativeAttention(options: RelativeAttentionOptions): RelativeAttention {
  return new RelativeAttention(options);
}
