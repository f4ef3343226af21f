// Test helpers for memory policies inside the model (Node only): a model and its memory state saved, reloaded and streamed on side by side; a package README's example run as written.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { expectClose } from '@engram/kernels/testing';
import { disposeState } from '@engram/memory';
import type { MemoryPolicy, MemoryState } from '@engram/memory';
import { runSegments, runSegmentsSideBySide } from '@engram/memory/testing';
import type { MemoryTransformer } from '../model.js';
import { loadMemoryState, loadModel, readModelConfig, saveMemoryState, saveModel } from '../node.js';
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
 * Streams segments `0 .. saveAfter - 1` of `stream` through `model`, saves the model (`saveModel`) and its memory state
 * (`saveMemoryState`) to a temporary directory, reloads both into a policy made by `recreatePolicy`, and expects segments
 * `saveAfter .. to - 1` to give the same logits `[batch, T, vocab]` from the original and from the copy (`expectClose`,
 * naming the segment). Disposes the copy and removes the directory; returns the original model's state after segment
 * `to - 1` (the caller disposes it).
 */
export async function expectReloadResumesStream<Policy extends MemoryPolicy>(options: ReloadResumeOptions<Policy>): Promise<MemoryState> {
  const { model, policy, stream, saveAfter, to, segmentLength } = options;
  const tolerance = options.tolerance ?? 1e-6;
  let state = runSegments(model, stream, { to: saveAfter, segmentLength, keep: true }).state as MemoryState;
  const directory = await mkdtemp(join(tmpdir(), `engram-${policy.kind}-reload-`));
  try {
    await saveModel(model, directory);
    await saveMemoryState(policy, state, join(directory, 'memory.safetensors'));
    const saved = await readModelConfig(directory);
    const restoredPolicy = options.recreatePolicy(saved.policy.config);
    const restored = await loadModel(directory, { policy: restoredPolicy });
    let restoredState = await loadMemoryState(restoredPolicy, join(directory, 'memory.safetensors'));
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
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
  return state;
}

/** Where {@link runReadmeExample} finds the example and which import it points at the package's sources. */
export interface ReadmeExampleOptions {
  /** The package's README.md, e.g. `new URL('../README.md', import.meta.url)`. */
  readme: URL;
  /** The `## ` heading whose first ```ts block is the example; default `Usage`. */
  section?: string;
  /** The package name the example imports from, e.g. `@engram/expire-span`. */
  packageName: string;
  /** The package's source entry that import is pointed at, e.g. `new URL('./index.ts', import.meta.url)`. */
  entry: URL;
}

/** What the example printed (the arguments of each `console.log` call) and how many tensors it left alive. */
export interface ReadmeExampleRun {
  printed: unknown[][];
  tensorsLeft: number;
}

const PRINT = '__engramReadmeExamplePrint';

/**
 * Runs a README's example as written, as a module of its own: imports of `packageName` are pointed at `entry`, the
 * other imports resolve from the package's folder (the module is written to a temporary folder beside the README and
 * removed afterwards), and `console.log` calls are captured instead of printed. Throws when the section or its
 * ```ts block is missing.
 */
export async function runReadmeExample(options: ReadmeExampleOptions): Promise<ReadmeExampleRun> {
  const section = options.section ?? 'Usage';
  const readme = await readFile(options.readme, 'utf8');
  const block = new RegExp(`^## ${section}\\n[\\s\\S]*?\`\`\`ts\\n([\\s\\S]*?)\`\`\``, 'm').exec(readme)?.[1];
  if (block === undefined) throw new Error(`runReadmeExample: ${fileURLToPath(options.readme)} has no \`\`\`ts block under "## ${section}".`);
  const source = block
    .replaceAll(`from '${options.packageName}'`, `from ${JSON.stringify(fileURLToPath(options.entry))}`)
    .replace(/\bconsole\.log\(/g, `globalThis.${PRINT}(`);
  const printed: unknown[][] = [];
  const global = globalThis as { [PRINT]?: (...values: unknown[]) => void };
  global[PRINT] = (...values) => printed.push(values);
  const folder = await mkdtemp(join(dirname(fileURLToPath(options.readme)), '.readme-example-'));
  try {
    const file = join(folder, 'example.ts');
    await writeFile(file, source);
    const before = tf.memory().numTensors;
    await import(/* @vite-ignore */ file);
    return { printed, tensorsLeft: tf.memory().numTensors - before };
  } finally {
    delete global[PRINT];
    await rm(folder, { recursive: true, force: true });
  }
}
