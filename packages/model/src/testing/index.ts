// Test helpers for memory policies inside the model (Node only): a model and its memory state saved to disk, reloaded, and streamed on side by side.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectClose } from '@engram/kernels/testing';
import { disposeState } from '@engram/memory';
import type { MemoryPolicy, MemoryState } from '@engram/memory';
import { runSegmentsSideBySide } from '@engram/memory/testing';
import type { MemoryTransformer } from '../model.js';
import { loadMemoryState, loadModel, readModelConfig, saveMemoryState, saveModel } from '../node.js';
import type { SavedModelConfig } from '../weights.js';

/** What {@link expectReloadResumesStream} saves, and how it recreates the policy and checks the copy. */
export interface ReloadResumeOptions<Policy extends MemoryPolicy> {
  /** The model (built with `policy`) and its state after segments `0 .. from - 1` of `stream`; `state` is consumed. */
  model: MemoryTransformer;
  policy: Policy;
  state: MemoryState;
  /** `[batch][length]` tokens; segments `from .. to - 1` are fed to both models. */
  stream: number[][];
  from: number;
  to: number;
  segmentLength: number;
  /** A new policy from the saved config (as a user reloading the directory would write it). */
  recreatePolicy(saved: SavedModelConfig): Policy;
  /** Extra checks on the reloaded copy before it streams on (e.g. the saved tensor names, the restored spans). */
  check?(reloaded: { saved: SavedModelConfig; policy: Policy; state: MemoryState }): void;
  /** Tolerance of the logits comparison; default 1e-6 absolute and relative. */
  tolerance?: number;
}

/**
 * Saves `model` (`saveModel`) and `state` (`saveMemoryState`) to a temporary directory, reloads both into a policy
 * made by `recreatePolicy`, and expects segments `from .. to - 1` of `stream` to give the same logits `[batch, T, vocab]`
 * from the original and from the copy (`expectClose`, naming the segment). Disposes the copy and removes the directory;
 * returns the original model's state after segment `to - 1` (the caller disposes it).
 */
export async function expectReloadResumesStream<Policy extends MemoryPolicy>(options: ReloadResumeOptions<Policy>): Promise<MemoryState> {
  const { model, policy, stream, from, to, segmentLength } = options;
  const tolerance = options.tolerance ?? 1e-6;
  let state = options.state;
  const directory = await mkdtemp(join(tmpdir(), `engram-${policy.kind}-reload-`));
  try {
    await saveModel(model, directory);
    await saveMemoryState(policy, state, join(directory, 'memory.safetensors'));
    const saved = await readModelConfig(directory);
    const restoredPolicy = options.recreatePolicy(saved);
    const restored = await loadModel(directory, { policy: restoredPolicy });
    let restoredState = await loadMemoryState(restoredPolicy, join(directory, 'memory.safetensors'));
    try {
      options.check?.({ saved, policy: restoredPolicy, state: restoredState });
      [state, restoredState] = runSegmentsSideBySide([{ model, state }, { model: restored, state: restoredState }], stream, {
        from,
        to,
        segmentLength,
        compare: (a, b, index) => expectClose(b, a, { atol: tolerance, rtol: tolerance, message: `segment ${index}` }),
      });
    } finally {
      disposeState(restoredState);
      restored.dispose();
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
  return state;
}
