// `engram inspect`: reads a text with a trained model and draws, per layer and step, which memories it keeps, compresses or forgets (SVG).
import { resolve } from 'node:path';
import { setupBackend } from '../backend.js';
import type { BackendChoice } from '../config/schema.js';
import { loadCorpusTokens } from '../data.js';
import { UsageError } from '../errors.js';
import { naming, readTextFile, writeFileAtomic } from '../files.js';
import { finalCounts, renderMemoryTimelineSvg, type MemoryTimeline } from '../inspect/picture.js';
import { recordMemoryTimeline } from '../inspect/timeline.js';
import { writeLine, type CommandIo } from '../io.js';
import { loadTrainedModel } from '../model-files.js';

/** Largest --text file read (inspect reads at most a few thousand tokens of it). */
const INSPECT_TEXT_BYTES = 64 * 1024 * 1024;

/** Options of {@link inspectCommand}. */
export interface InspectCommandOptions {
  /** Model directory or run directory. */
  model: string;
  /** A text file to read (default: the start of the validation split of the model's corpus). */
  text?: string;
  /** The text itself, instead of a file. */
  prompt?: string;
  /** Read at most this many tokens (default 8 segments). */
  tokens?: number;
  /** The SVG file to write (default memory.svg). */
  out?: string;
  backend?: BackendChoice;
  offline?: boolean;
}

/** Records the timeline, writes the SVG, prints a per-layer summary; returns the timeline. */
export async function inspectCommand(options: InspectCommandOptions, io: CommandIo): Promise<MemoryTimeline> {
  if (options.text !== undefined && options.prompt !== undefined) {
    throw new UsageError('give either --text FILE or --prompt TEXT, not both');
  }
  await setupBackend(options.backend ?? 'auto');
  const trained = await loadTrainedModel(options.model, {
    budget: { batchSize: 1, what: 'reading one segment', fix: 'use a smaller model' },
  });
  try {
    const segmentLength = trained.model.config.segmentLength;
    const limit = options.tokens ?? 8 * segmentLength;
    if (!Number.isInteger(limit) || limit < segmentLength) {
      throw new UsageError(`--tokens must be an integer >= the segment length (${segmentLength}), got ${options.tokens}`);
    }
    let ids: Int32Array;
    let source: string;
    if (options.prompt !== undefined || options.text !== undefined) {
      let text = options.prompt ?? '';
      if (options.text !== undefined) {
        text = await readTextFile(options.text, { maxBytes: INSPECT_TEXT_BYTES, what: 'the text to read (--text)' });
      }
      ids = trained.tokenizer.encode(text).subarray(0, limit);
      source = options.text ?? 'the prompt';
    } else {
      const data = trained.document?.config.data ?? { corpus: 'moby-dick' as const };
      const tokens = await loadCorpusTokens(data, {
        tokenizer: trained.tokenizer,
        ...(options.offline === undefined ? {} : { offline: options.offline }),
      });
      ids = tokens.valid.subarray(0, limit);
      source = `the ${tokens.corpus} validation split`;
    }
    if (ids.length < segmentLength) {
      throw new UsageError(
        `the text has ${ids.length} tokens, fewer than one segment (${segmentLength}): give a longer text`,
      );
    }
    const characters = Array.from(ids, (id) => trained.tokenizer.decode([id]));
    const timeline = recordMemoryTimeline(trained.model, ids, {
      title: `What a ${trained.model.policy.kind} model keeps in memory while reading ${source}`,
      characters,
    });
    const out = resolve(options.out ?? 'memory.svg');
    await naming(options.out ?? 'memory.svg', 'write the picture', () => writeFileAtomic(out, renderMemoryTimelineSvg(timeline)));
    finalCounts(timeline).forEach((counts, layer) => {
      writeLine(
        io.stdout,
        `layer ${layer}: ${counts.memory} in memory, ${counts.compressed} compressed, ${counts.buffered} waiting, ${counts.expired} expired, ${counts.forgotten} forgotten (of ${timeline.tokens})`,
      );
    });
    writeLine(io.stdout, `picture written to ${out}`);
    return timeline;
  } finally {
    trained.model.dispose();
  }
}
