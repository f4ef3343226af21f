// One temporal range per configuration: `engram presets`, the policy, the model and a training run's log header agree.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPolicy, temporalRangeOf } from './build.js';
import { presetsCommand } from './commands/config.js';
import { trainCommand } from './commands/train.js';
import { presetNames } from './config/presets.js';
import { resolveConfig } from './config/resolve.js';
import { modelKinds, policyDescriptors } from './config/schema.js';
import { captureIo } from './io.js';
import { temporaryRoot } from './test-support.js';

const root = temporaryRoot('engram-cli-range-');

describe('temporal range: one function per policy kind', () => {
  it('the presets table equals the policy of every kind and preset', () => {
    const io = captureIo();
    presetsCommand(io);
    const rows = io.output().trim().split('\n').slice(1).map((line) => line.split(/\s{2,}/));
    expect(rows).toHaveLength(modelKinds.length * presetNames.length);
    for (const row of rows) {
      const [kind, preset] = row as [(typeof modelKinds)[number], (typeof presetNames)[number]];
      const config = resolveConfig({ kind, preset });
      const policy = createPolicy(config);
      expect(policy.kind).toBe(policyDescriptors[kind].kind);
      const live = policy.temporalRange(config.model.numLayers);
      policy.dispose();
      expect(Number(row.at(-1)), `${kind} ${preset}`).toBe(live);
      expect(temporalRangeOf(config), `${kind} ${preset}`).toBe(live);
    }
  });

  it('the README presets table shows the same ranges', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const rows = readme.split('\n').filter((line) => /^\| (txl|compressive|expire-span|adaptive-span) \| (tiny|small|paper) \|/.test(line));
    expect(rows).toHaveLength(modelKinds.length * presetNames.length);
    for (const row of rows) {
      const cells = row.split('|').map((cell) => cell.trim());
      const [kind, preset] = [cells[1], cells[2]] as [(typeof modelKinds)[number], (typeof presetNames)[number]];
      expect(Number(cells.at(-2)), `${kind} ${preset}`).toBe(temporalRangeOf(resolveConfig({ kind, preset })));
    }
  });

  it('fixes the two disagreements seen: Adaptive-Span tiny reaches 512, Expire-Span tiny 1054', () => {
    // Adaptive-Span: memory holds at most S = 256 slots per layer, 2 layers.
    expect(temporalRangeOf(resolveConfig({ kind: 'adaptive-span', preset: 'tiny' }))).toBe(512);
    // Expire-Span: a memory is visible while its age is below e + R < 512 + 16, so 527 tokens per layer.
    expect(temporalRangeOf(resolveConfig({ kind: 'expire-span', preset: 'tiny' }))).toBe(1054);
  });

  it.each(modelKinds)(
    'a %s training run prints the range its log header records',
    async (kind) => {
      const settings = [
        'model.modelDim=16',
        'model.numHeads=2',
        'model.feedForwardDim=32',
        'model.segmentLength=8',
        'training.steps=1',
        'training.batchSize=1',
        'training.warmupSteps=0',
        'training.evalTokens=16',
      ];
      const io = captureIo();
      const out = join(root, kind);
      await trainCommand({ kind, preset: 'tiny', settings, out, progress: 'none', backend: 'wasm' }, io);
      const printed = Number(/temporal range (\d+) tokens/.exec(io.errors())?.[1]);
      const header = JSON.parse(readFileSync(join(out, 'train.jsonl'), 'utf8').split('\n')[0] as string) as {
        type: string;
        temporalRange: number;
      };
      expect(header.type).toBe('header');
      const expected = temporalRangeOf(resolveConfig({ kind, preset: 'tiny', settings }));
      expect(printed).toBe(expected);
      expect(header.temporalRange).toBe(expected);
    },
    60_000,
  );
});
