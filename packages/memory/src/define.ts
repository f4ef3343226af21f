// defineMemoryPolicy: the MemoryPolicy skeleton every method shares (life cycle, checks, append-then-evict, state I/O).
import * as tf from '@tensorflow/tfjs';
import { MemoryPolicyError } from './errors.js';
import type {
  AttentionModulation,
  LayerMemory,
  MemoryPolicy,
  MemoryState,
  MemoryView,
  ModelDimensions,
  ModulationContext,
  PolicyTelemetry,
  SegmentRecord,
  SerializedMemoryState,
} from './policy.js';
import { appendToMemory, deserializeLayers, disposeState, emptyLayerMemory, serializeLayers } from './state.js';
import { uniqueVariableName, uniqueVariableScope } from './variables.js';

/** The dimensions every policy needs, in the order they are checked. */
const DIMENSION_NAMES = ['numLayers', 'modelDim', 'numHeads', 'segmentLength'] as const;

/** What went wrong, handed to {@link MemoryPolicyDefinition.error} so a package can throw its own error class. */
export interface PolicyErrorDetails {
  /**
   * - `lifecycle`: used before `build()`, after `dispose()`, or rebuilt for another shape;
   * - `dimensions`: `build()` got a dimension that is not an integer >= 1;
   * - `input`: a method got an argument of the wrong value or shape (batch size, layer index, record, tensors);
   * - `state`: a saved state cannot be restored by this policy.
   */
  category: 'lifecycle' | 'dimensions' | 'input' | 'state';
  /** The policy method, e.g. `write`. */
  method: string;
  /** The argument or field at fault, e.g. `layer`, `batchSize`, `record.positions`. */
  parameter?: string;
  /** What was expected and what was received, as text (also contained in the message). */
  expected?: string;
  actual?: string;
}

/** The view of a built policy its parts use: guarded dimensions, layer checks, errors. */
export interface PolicyKit {
  /** The policy's kind. */
  readonly kind: string;
  /** The dimensions given to `build()`; throws the life-cycle error (naming `method`) before build or after dispose. */
  dimensions(method: string): ModelDimensions;
  /** Checks `layer` is an integer in `[0, numLayers)` (and that the policy is built); returns it. */
  checkLayer(layer: number, method: string): number;
  /**
   * Checks a state and a segment record against the built depth (one layer input per layer, int32 `[batch, T]`
   * positions), as `write()` does; returns the dimensions.
   */
  checkRecord(state: MemoryState, record: SegmentRecord, method: string): ModelDimensions;
  /**
   * Checks the keys and queries of one attention call: `keyPositions` `[batch, keys]` matching `keyHidden`
   * `[batch, keys, modelDim]`, and `queryPositions` `[batch, queries]` of the same batch. For a `modulate` that
   * reads positions (span methods); the skeleton itself checks only `context.layer`. Throws the policy's error
   * (`<kind> policy: <method>: keyPositions must be ...`).
   */
  checkModulation(context: ModulationContext, method: string): void;
  /** Throws the policy's error for `details` with `message` (prefixed with `<kind> policy: `). */
  fail(message: string, details: PolicyErrorDetails): never;
  /** Whether `dispose()` was called. */
  readonly disposed: boolean;
}

/** What {@link MemoryPolicyDefinition.build} receives on the first `build()`. */
export interface PolicyBuildContext {
  readonly dimensions: Readonly<ModelDimensions>;
  /** The unique variable scope of this instance, e.g. `expire-span3`: variables are `<scope>/<stable name>`. */
  readonly scope: string;
  /**
   * Creates a variable named `<scope>/<stableName>` (the model saves it as `policy.<stableName>`), listed by
   * `variables()` (or `separateVariables()` with `{ separate: true }`) in creation order and disposed with the
   * policy. Takes ownership of `initialValue`.
   */
  variable<R extends tf.Rank>(stableName: string, initialValue: tf.Tensor<R>, options?: { separate?: boolean }): tf.Variable<R>;
}

/** One layer's part of a `write()`, handed to {@link MemoryPolicyDefinition.writeLayer}. */
export interface LayerWrite {
  /** The layer's memory before the segment. */
  readonly memory: LayerMemory;
  readonly layer: number;
  /** The segment's (detached) layer input `[batch, T, modelDim]`. */
  readonly input: tf.Tensor3D;
  /** int32 `[batch, T]`: absolute positions of the segment. */
  readonly positions: tf.Tensor2D;
  readonly record: SegmentRecord;
  readonly state: MemoryState;
  /** `state.tokensSeen + T`: where the next segment starts. */
  readonly nextTokensSeen: number;
}

/**
 * A memory method described by what makes it different; {@link defineMemoryPolicy} adds the rest. Every hook
 * runs after the checks the skeleton owns (built, not disposed, layer in range, record of the right depth).
 */
export interface MemoryPolicyDefinition<Extension extends object = Record<never, never>> {
  /** Short identifier, written into saved configs and states (`meta.kind`). */
  kind: string;
  /** The factory users call, named in the "create a new policy" hint (default `defineMemoryPolicy`). */
  factory?: string;
  /** Whether `write` needs `record.attentionProbabilities` (default false). */
  needsAttentionProbabilities?: boolean;
  /** Whether `separateLoss` can use `record.attentionProjections` (default false). */
  needsAttentionProjections?: boolean;
  /**
   * Dimensions that must be the same when `build()` is called again (`numLayers` always is); a repeated build with
   * the same ones only updates the stored dimensions. Default `['numLayers']`.
   */
  fixedDimensions?: readonly (typeof DIMENSION_NAMES)[number][];
  /** Turns a failed check into the package's own error class (default {@link MemoryPolicyError}). */
  error?(message: string, details: PolicyErrorDetails): Error;
  /** JSON-safe options that recreate the policy; `kind` is added in front. */
  config(): Record<string, unknown>;
  /** Largest distance in tokens information can travel through memory over `numLayers` layers (SPEC 3). */
  temporalRange(numLayers: number): number;
  /** Creates the variables (first `build()` only). A throw leaves the policy unbuilt, its variables disposed. */
  build?(context: PolicyBuildContext, kit: PolicyKit): void;
  /**
   * What layer `layer` reads; default the layer's own memory, contiguous (a FIFO-like memory), with
   * `oldestPosition = tokensSeen - slots`. A custom read should set {@link MemoryView.oldestPosition} when it knows
   * the smallest position on the host (else attention gets no distance bound).
   */
  read?(memory: LayerMemory, layer: number, state: MemoryState, kit: PolicyKit): MemoryView;
  /** Optional soft mask and auxiliary loss of one attention call (layer already checked). */
  modulate?(context: ModulationContext, kit: PolicyKit): AttentionModulation;
  /**
   * Memory slots a layer keeps after this segment, for the default `writeLayer` (append the segment, keep the
   * newest slots, dispose the evicted ones: SPEC 2.1).
   */
  memoryLength?(record: SegmentRecord, layer: number, kit: PolicyKit): number;
  /** The next memory of one layer; default append-then-evict with {@link memoryLength}. New tensors only. */
  writeLayer?(write: LayerWrite, kit: PolicyKit): LayerMemory;
  /** Default: the variables made with `context.variable`. */
  variables?(): tf.Variable[];
  /** Default: the variables made with `context.variable(..., { separate: true })`. */
  separateVariables?(): tf.Variable[];
  separateLoss?(state: MemoryState, record: SegmentRecord, kit: PolicyKit): tf.Scalar | null;
  /** Not called once the policy is disposed. */
  afterOptimizerStep?(kit: PolicyKit): void;
  /** Default: memory slots per layer, no further series. */
  telemetry?(state: MemoryState, kit: PolicyKit): PolicyTelemetry;
  /** Names of the `LayerMemory.extra` tensors a restored state may hold (default none). */
  extraTensors?: readonly string[];
  /** Further JSON-safe `meta` of a saved state (kind, version, tokensSeen, batchSize, numLayers are added). */
  stateMeta?(): Record<string, unknown>;
  /** Checks a saved state's `meta` before anything is restored; throw to refuse it. */
  checkSavedState?(serialized: SerializedMemoryState, kit: PolicyKit): void;
  /**
   * The counterpart of {@link stateMeta}: takes back what the policy keeps beside the memory (e.g. a
   * generator position) from a saved state's `meta`, once its layers passed every check. A throw
   * refuses the state (its restored tensors are disposed).
   */
  restoreStateMeta?(meta: Readonly<Record<string, unknown>>, kit: PolicyKit): void;
  /**
   * Checks one restored layer (width and extra names are already checked): a message saying what is wrong, or
   * null. A throw is passed on; either way the restored tensors are disposed.
   */
  checkRestoredLayer?(memory: LayerMemory, layer: number, state: MemoryState, kit: PolicyKit): string | null;
  /** Members the policy adds to the contract (accessors of its variables, ...). */
  extend?(kit: PolicyKit): Extension;
  /** Disposes what the definition owns besides the variables made with `context.variable`. */
  dispose?(): void;
}

/** Guard messages name the method; this turns a definition's `error` hook into a throw. */
function raise(definition: MemoryPolicyDefinition<object>, message: string, details: PolicyErrorDetails): never {
  throw definition.error ? definition.error(message, details) : new MemoryPolicyError(message);
}

/**
 * Builds a {@link MemoryPolicy} from the parts that make a memory method different. The skeleton owns:
 * the built/disposed guard, the dimension checks of `build()` (and a rebuild for another shape), `initialState`,
 * the read-range check, the write checks (one layer input per layer, int32 `[batch, T]` positions),
 * append-then-evict, stable variable names under a unique scope, and state serialization with the kind, depth,
 * width and extra-tensor checks. Use it like `defineCompressor`:
 *
 * ```ts
 * const policy = defineMemoryPolicy({
 *   kind: 'last-two',
 *   config: () => ({}),
 *   temporalRange: (numLayers) => numLayers * 2,
 *   memoryLength: () => 2,
 * });
 * ```
 */
export function defineMemoryPolicy<Extension extends object = Record<never, never>>(
  definition: MemoryPolicyDefinition<Extension>,
): MemoryPolicy & Extension {
  const { kind } = definition;
  if (typeof kind !== 'string' || kind.length === 0) {
    throw new MemoryPolicyError(`defineMemoryPolicy: kind must be a non-empty string, got ${JSON.stringify(kind)}.`);
  }
  const factory = definition.factory ?? 'defineMemoryPolicy';
  const fixed = ['numLayers', ...(definition.fixedDimensions ?? [])].filter(
    (name, index, all) => all.indexOf(name) === index,
  ) as (typeof DIMENSION_NAMES)[number][];
  const extraTensors = new Set(definition.extraTensors ?? []);
  let dimensions: ModelDimensions | null = null;
  let disposed = false;
  let ownVariables: tf.Variable[] = [];
  let ownSeparateVariables: tf.Variable[] = [];

  const fail = (message: string, details: PolicyErrorDetails): never =>
    raise(definition as MemoryPolicyDefinition<object>, `${kind} policy: ${message}`, details);

  const built = (method: string): ModelDimensions => {
    if (disposed) {
      fail(`${method}() was called after dispose(). Create a new policy with ${factory}().`, {
        category: 'lifecycle',
        method,
      });
    }
    if (!dimensions) {
      fail(
        `${method}() was called before build(). The model calls build() when the policy is passed to it; call policy.build({ numLayers, modelDim, numHeads, segmentLength }) yourself when using the policy alone.`,
        { category: 'lifecycle', method },
      );
    }
    return dimensions as ModelDimensions;
  };

  const checkRecord = (state: MemoryState, record: SegmentRecord, method: string): ModelDimensions => {
    const dims = built(method);
    if (record.layerInputs.length !== dims.numLayers || state.layers.length !== dims.numLayers) {
      fail(
        `${method}() expects ${dims.numLayers} layers, got a state of ${state.layers.length} and ${record.layerInputs.length} layer inputs.`,
        {
          category: 'input',
          method,
          parameter: 'state / record',
          expected: `${dims.numLayers} layers`,
          actual: `a state of ${state.layers.length} layers and ${record.layerInputs.length} layer inputs`,
        },
      );
    }
    const positions = record.positions;
    if (positions.rank !== 2 || positions.dtype !== 'int32' || positions.shape[0] !== state.batchSize) {
      fail(
        `${method}(): record.positions must be int32 [${state.batchSize}, segmentLength], got ${positions.dtype} [${positions.shape.join(', ')}].`,
        {
          category: 'input',
          method,
          parameter: 'record.positions',
          expected: `int32 [${state.batchSize}, segmentLength]`,
          actual: `${positions.dtype} [${positions.shape.join(', ')}]`,
        },
      );
    }
    return dims;
  };

  const kit: PolicyKit = {
    kind,
    dimensions: built,
    checkLayer(layer: number, method: string): number {
      const { numLayers } = built(method);
      if (!Number.isInteger(layer) || layer < 0 || layer >= numLayers) {
        fail(`${method}: layer must be an integer in [0, ${numLayers - 1}], got ${layer}.`, {
          category: 'input',
          method,
          parameter: 'layer',
          expected: `an integer in [0, ${numLayers - 1}]`,
          actual: String(layer),
        });
      }
      return layer;
    },
    checkRecord: (state, record, method) => checkRecord(state, record, method),
    checkModulation({ keyHidden, keyPositions, queryPositions }: ModulationContext, method: string): void {
      built(method);
      const [batch, keys] = keyHidden.shape;
      if (keyPositions.rank !== 2 || keyPositions.shape[0] !== batch || keyPositions.shape[1] !== keys) {
        fail(`${method}: keyPositions must be [${batch}, ${keys}] to match keyHidden, got [${keyPositions.shape.join(', ')}].`, {
          category: 'input',
          method,
          parameter: 'keyPositions',
          expected: `[${batch}, ${keys}]`,
          actual: `[${keyPositions.shape.join(', ')}]`,
        });
      }
      if (queryPositions.rank !== 2 || queryPositions.shape[0] !== batch) {
        fail(`${method}: queryPositions must be [${batch}, queries], got [${queryPositions.shape.join(', ')}].`, {
          category: 'input',
          method,
          parameter: 'queryPositions',
          expected: `[${batch}, queries]`,
          actual: `[${queryPositions.shape.join(', ')}]`,
        });
      }
    },
    fail,
    get disposed() {
      return disposed;
    },
  };

  const appendThenEvict = (write: LayerWrite): LayerMemory => {
    const keep = (definition.memoryLength as NonNullable<typeof definition.memoryLength>)(write.record, write.layer, kit);
    const appended = appendToMemory(write.memory.hidden, write.memory.positions, write.input, write.positions, keep);
    if (appended.evicted) {
      appended.evicted.hidden.dispose();
      appended.evicted.positions.dispose();
    }
    return { hidden: appended.hidden, positions: appended.positions, extra: {} };
  };
  if (!definition.writeLayer && !definition.memoryLength) {
    throw new MemoryPolicyError(
      `defineMemoryPolicy(${kind}): give memoryLength(record, layer) (append the segment and keep that many slots) or writeLayer(write) (your own write).`,
    );
  }
  const writeLayer = definition.writeLayer ?? appendThenEvict;

  const policy: MemoryPolicy = {
    specificationVersion: 'v1',
    kind,
    needsAttentionProbabilities: definition.needsAttentionProbabilities ?? false,
    needsAttentionProjections: definition.needsAttentionProjections ?? false,

    build(next: ModelDimensions): void {
      if (disposed) built('build');
      for (const name of DIMENSION_NAMES) {
        const value = next?.[name];
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
          fail(`build() needs ${name} to be an integer >= 1, got ${JSON.stringify(value)}.`, {
            category: 'dimensions',
            method: 'build',
            parameter: name,
            expected: 'an integer >= 1',
            actual: JSON.stringify(value),
          });
        }
      }
      if (dimensions) {
        const previous = dimensions;
        if (fixed.every((name) => previous[name] === next[name])) {
          dimensions = { ...next };
          return;
        }
        const describe = (dims: ModelDimensions): string => fixed.map((name) => `${name} ${dims[name]}`).join(', ');
        fail(`already built for ${describe(previous)}, now asked for ${describe(next)}. Create one policy per model.`, {
          category: 'lifecycle',
          method: 'build',
        });
      }
      if (definition.build) {
        const scope = uniqueVariableScope(kind);
        const created: tf.Variable[] = [];
        const createdSeparate: tf.Variable[] = [];
        const frozen = Object.freeze({ ...next });
        const context: PolicyBuildContext = {
          dimensions: frozen,
          scope,
          variable<R extends tf.Rank>(stableName: string, initialValue: tf.Tensor<R>, options: { separate?: boolean } = {}) {
            if (typeof stableName !== 'string' || stableName.length === 0 || stableName.includes('/')) {
              initialValue.dispose();
              fail(`build(): variable names must be non-empty and contain no "/", got ${JSON.stringify(stableName)}.`, {
                category: 'input',
                method: 'build',
                parameter: 'stableName',
              });
            }
            const variable = tf.variable(initialValue, true, uniqueVariableName(`${scope}/${stableName}`)) as tf.Variable<R>;
            initialValue.dispose();
            (options.separate ? createdSeparate : created).push(variable);
            return variable;
          },
        };
        // The guard needs the dimensions while the definition builds (its hooks may read them).
        dimensions = frozen;
        try {
          definition.build(context, kit);
        } catch (error) {
          dimensions = null;
          for (const variable of [...created, ...createdSeparate]) variable.dispose();
          throw error;
        }
        ownVariables = created;
        ownSeparateVariables = createdSeparate;
      }
      dimensions = { ...next };
    },

    initialState(batchSize: number): MemoryState {
      const { numLayers } = built('initialState');
      if (!Number.isInteger(batchSize) || batchSize < 1) {
        fail(`initialState(batchSize) needs an integer >= 1, got ${batchSize}.`, {
          category: 'input',
          method: 'initialState',
          parameter: 'batchSize',
          expected: 'an integer >= 1',
          actual: JSON.stringify(batchSize),
        });
      }
      return { layers: Array.from({ length: numLayers }, emptyLayerMemory), tokensSeen: 0, batchSize };
    },

    read(state: MemoryState, layer: number): MemoryView {
      built('read');
      const memory = state.layers[layer];
      if (!memory) {
        fail(`read(state, ${layer}) is out of range; the state has ${state.layers.length} layers.`, {
          category: 'input',
          method: 'read',
          parameter: 'layer',
          expected: `a layer index in [0, ${state.layers.length})`,
          actual: String(layer),
        });
      }
      const own = memory as LayerMemory;
      if (definition.read) return definition.read(own, layer, state, kit);
      // Contiguous memory holds `tokensSeen - slots .. tokensSeen - 1`: its oldest position is known without a read.
      const slots = own.hidden?.shape[1] ?? 0;
      return {
        hidden: own.hidden,
        positions: own.positions,
        contiguous: true,
        ...(slots > 0 ? { oldestPosition: state.tokensSeen - slots } : {}),
      };
    },

    write(state: MemoryState, record: SegmentRecord): MemoryState {
      checkRecord(state, record, 'write');
      const positions = record.positions;
      const nextTokensSeen = state.tokensSeen + positions.shape[1];
      const layers = state.layers.map((memory, layer) =>
        writeLayer(
          { memory, layer, input: record.layerInputs[layer] as tf.Tensor3D, positions, record, state, nextTokensSeen },
          kit,
        ),
      );
      return { layers, tokensSeen: nextTokensSeen, batchSize: state.batchSize };
    },

    variables: definition.variables ? () => definition.variables!() : () => [...ownVariables],
    separateVariables: definition.separateVariables
      ? () => definition.separateVariables!()
      : () => [...ownSeparateVariables],

    temporalRange: (numLayers: number) => definition.temporalRange(numLayers),

    telemetry(state: MemoryState): PolicyTelemetry {
      built('telemetry');
      if (definition.telemetry) return definition.telemetry(state, kit);
      return { memorySlots: state.layers.map((memory) => memory.hidden?.shape[1] ?? 0), perLayer: {} };
    },

    config(): Record<string, unknown> {
      return { kind, ...definition.config() };
    },

    serializeState(state: MemoryState): SerializedMemoryState {
      return serializeLayers(state, { kind, specificationVersion: 'v1', ...definition.stateMeta?.() });
    },

    deserializeState(serialized: SerializedMemoryState): MemoryState {
      const { numLayers, modelDim } = built('deserializeState');
      definition.checkSavedState?.(serialized, kit);
      const state = deserializeLayers(serialized, { kind, numLayers });
      try {
        state.layers.forEach((memory, layer) => {
          let problem: string | null = null;
          const unknown = Object.keys(memory.extra).filter((name) => !extraTensors.has(name));
          if (memory.hidden !== null && memory.hidden.shape[2] !== modelDim) {
            problem = `holds hidden states of width ${memory.hidden.shape[2]}, expected [batch, slots, ${modelDim}]`;
          } else if (unknown.length > 0) {
            problem = `holds extra tensors ${unknown.map((name) => JSON.stringify(name)).join(', ')}, expected ${extraTensors.size === 0 ? 'none' : `only ${[...extraTensors].join(', ')}`}`;
          } else {
            problem = definition.checkRestoredLayer?.(memory, layer, state, kit) ?? null;
          }
          if (problem !== null) {
            fail(
              `deserializeState: layer ${layer} ${problem}. Restore a state saved by a ${kind} policy of the same model.`,
              { category: 'state', method: 'deserializeState', parameter: `layer${layer}` },
            );
          }
        });
        definition.restoreStateMeta?.(serialized.meta, kit);
      } catch (error) {
        disposeState(state);
        throw error;
      }
      return state;
    },

    dispose(): void {
      if (disposed) return;
      disposed = true;
      definition.dispose?.();
      for (const variable of [...ownVariables, ...ownSeparateVariables]) variable.dispose();
      ownVariables = [];
      ownSeparateVariables = [];
    },
  };

  if (definition.modulate) {
    const modulate = definition.modulate;
    policy.modulate = (context: ModulationContext): AttentionModulation => {
      kit.checkLayer(context.layer, 'modulate');
      return modulate(context, kit);
    };
  }
  if (definition.separateLoss) {
    const separateLoss = definition.separateLoss;
    policy.separateLoss = (state: MemoryState, record: SegmentRecord): tf.Scalar | null => {
      checkRecord(state, record, 'separateLoss');
      return separateLoss(state, record, kit);
    };
  }
  if (definition.afterOptimizerStep) {
    const afterOptimizerStep = definition.afterOptimizerStep;
    policy.afterOptimizerStep = (): void => {
      if (!disposed && dimensions) afterOptimizerStep(kit);
    };
  }
  const extension = definition.extend?.(kit);
  if (extension) {
    for (const name of Object.keys(extension)) {
      if (name in policy) {
        throw new MemoryPolicyError(
          `defineMemoryPolicy(${kind}): extend() returned "${name}", a member of the MemoryPolicy contract; give it through its own hook instead.`,
        );
      }
    }
  }
  return Object.assign(policy, extension ?? {}) as MemoryPolicy & Extension;
}
