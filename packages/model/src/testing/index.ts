// Test helpers for memory policies inside the model (browser-safe): a model and its memory state saved as the bytes of a model directory, reloaded, and streamed on side by side.
import { expectClose } from '@engram/kernels/testing';
import { disposeState } from '@engram/memory';
import type { MemoryPolicy, MemoryState } from '@engram/memory';
import { runSegments, runSegmentsSideBySide } from '@engram/memory/testing';
import type { MemoryTransformer } from '../model.js';
import { decodeMemoryState, decodeModel, encodeMemoryState, encodeModel, parseModelConfig } from '../weights.js';
import type { SavedModelConfig } from '../weights.js';

/** What {@link expectReloadResumesStream} streams and saves, and how it recreates the policy and checks the copy. */
export interface ReloadResumeOptions<Policy extends MemoryPolicy> {
  /** The model, built with `policy`. */
  model: MemoryTransformer;
  policy: Policy;
  /** `[batch][length]` tokens: segments `0 .. saveAfter - 1` are fed before saving, `saveAfter .. to - 1` to both models after. */
  stream: number[][];
  segmentLength: number;
  saveAfter: number;
  to: number;
  /** A new policy from the saved `policy.config` (as a user reloading the directory would write it). */
  recreatePolicy(config: Record<string, unknown>): Policy;
  /** Extra checks on the reloaded copy before it streams on (e.g. the saved tensor names, the restored spans), beside the original's state. */
  check?(reloaded: { saved: SavedModelConfig; policy: Policy; state: MemoryState }, original: { state: MemoryState }): void;
  /** Tolerance of the logits comparison; default 1e-6 absolute and relative. */
  tolerance?: number;
}

/**
 * Streams segments `0 .. saveAfter - 1` of `stream` through `model`, saves the model (`encodeModel`: the bytes of
 * `config.json` and `model.safetensors`, as `saveModel` writes them) and its memory state (`encodeMemoryState`, as
 * `saveMemoryState` writes it), reloads both (`decodeModel`, `decodeMemoryState`) into a policy made by
 * `recreatePolicy` from the saved config, and expects segments `saveAfter .. to - 1` to give the same logits
 * `[batch, T, vocab]` from the original and from the copy (`expectClose`, naming the segment). Disposes the copy;
 * returns the original model's state after segment `to - 1` (the caller disposes it).
 */
export function expectReloadResumesStream<Policy extends MemoryPolicy>(options: ReloadResumeOptions<Policy>): MemoryState {
  const { model, policy, stream, saveAfter, to, segmentLength } = options;
  const tolerance = options.tolerance ?? 1e-6;
  let state = runSegments(model, stream, { to: saveAfter, segmentLength, keep: true }).state as MemoryState;
  const files = encodeModel(model);
  const savedState = encodeMemoryState(policy, state);
  const saved = parseModelConfig(files.config);
  const restoredPolicy = options.recreatePolicy(saved.policy.config);
  const restored = decodeModel(files, { policy: restoredPolicy });
  let restoredState = decodeMemoryState(restoredPolicy, savedState);
  try {
    options.check?.({ saved, policy: restoredPolicy, state: restoredState }, { state });
    [state, restoredState] = runSegmentsSideBySide([{ model, state }, { model: restored, state: restoredState }], stream, {
      from: saveAfter,
      to,
      segmentLength,
      compare: (a, b, index) => expectClose(b, a, { atol: tolerance, rtol: tolerance, message: `segment ${index}` }),
    });
  } finally {
    disposeState(restoredState);
    restored.dispose();
  }
  return state;
}
