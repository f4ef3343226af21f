// A user's own policy and compressor named in a config file: trained, saved, reloaded from the checkpoint, and the load errors.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { captureIo } from './io.js';
import { runCli } from './program.js';
import { temporaryRoot, tinyRunSettings } from './test-support.js';

const packageDirectory = fileURLToPath(new URL('..', import.meta.url));
// A user project: its own folder, with the engram packages installed (node_modules linked to the CLI's).
const root = temporaryRoot('engram-user-module-');
symlinkSync(join(packageDirectory, 'node_modules'), join(root, 'node_modules'), 'dir');
writeFileSync(join(root, 'package.json'), '{ "type": "module" }\n');

/** A sliding window that keeps every other token of each segment: a policy no built-in descriptor knows. */
writeFileSync(
  join(root, 'stride-policy.mjs'),
  `import { defineMemoryPolicy, defineMemoryPolicyDescriptor } from '@engram/memory';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';

const optionsSchema = z.strictObject({ window: z.number().int().positive(), stride: z.number().int().positive().default(2) });

function createStridePolicy({ window, stride }) {
  return defineMemoryPolicy({
    kind: 'stride',
    config: () => ({ window, stride }),
    temporalRange: (numLayers) => numLayers * window * stride,
    writeLayer: ({ memory, layer, record }) => {
      const input = record.layerInputs[layer];
      const [batch, length] = record.positions.shape;
      const keep = Array.from({ length: Math.ceil(length / stride) }, (_, index) => index * stride);
      return tf.tidy(() => {
        const indices = tf.tensor1d(keep, 'int32');
        const hidden = tf.gather(input, indices, 1);
        const positions = tf.gather(record.positions, indices, 1);
        const allHidden = memory.hidden ? tf.concat([memory.hidden, hidden], 1) : hidden;
        const allPositions = memory.positions ? tf.concat([memory.positions, positions], 1) : positions;
        const slots = allHidden.shape[1];
        const start = Math.max(0, slots - window);
        return {
          hidden: tf.slice(allHidden, [0, start, 0], [batch, slots - start, -1]),
          positions: tf.slice(allPositions, [0, start], [batch, slots - start]),
          extra: {},
        };
      });
    },
  });
}

export const stridePolicyDescriptor = defineMemoryPolicyDescriptor({
  kind: 'stride',
  description: 'every other token of each segment, the newest window of them',
  defaults: { stride: 2 },
  optionsSchema,
  create: (options) => createStridePolicy(options),
  fromSavedConfig: (saved) => createStridePolicy(optionsSchema.parse({ window: saved.window, stride: saved.stride })),
  temporalRange: (options, numLayers) => numLayers * options.window * options.stride,
});

export const notADescriptor = { kind: 'stride' };
`,
);

/** A compressor that keeps the last memory of each block. */
writeFileSync(
  join(root, 'last-compressor.mjs'),
  `import { defineCompressor, defineCompressorDescriptor } from '@engram/compression';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';

function createLastCompressor({ rate }) {
  return defineCompressor({
    kind: 'last-of-block',
    rate,
    build: () => ({
      compress: ({ hidden }) =>
        tf.tidy(() => {
          const [batch, length, width] = hidden.shape;
          const blocks = tf.reshape(hidden, [batch, length / rate, rate, width]);
          return tf.reshape(tf.slice(blocks, [0, 0, rate - 1, 0], [-1, -1, 1, -1]), [batch, length / rate, width]);
        }),
    }),
  });
}

export default defineCompressorDescriptor({
  kind: 'last-of-block',
  description: 'the last memory of each block',
  optionsSchema: z.strictObject({}),
  create: (_options, context) => createLastCompressor({ rate: context.rate }),
  fromSavedConfig: (saved) => createLastCompressor({ rate: saved.rate }),
});
`,
);

const tinySettings = [...tinyRunSettings(), 'training.checkpointEvery=1'].flatMap((setting) => ['--set', setting]);

/** A configuration file in a subfolder, naming the module relative to itself. */
function configFile(name: string, memory: Record<string, unknown>, kind?: string): string {
  mkdirSync(join(root, 'configs'), { recursive: true });
  const path = join(root, 'configs', `${name}.json`);
  writeFileSync(path, JSON.stringify({ ...(kind === undefined ? {} : { kind }), memory }));
  return path;
}

async function cli(args: string[]) {
  const io = captureIo();
  const code = await runCli(args, io);
  return { code, io };
}

describe('a policy from a user module', () => {
  const run = join(root, 'stride-run');

  it('trains from a config file, then eval, generate, inspect, export and resume rebuild it without its options', async () => {
    const config = configFile('stride', { module: '../stride-policy.mjs', export: 'stridePolicyDescriptor', options: { window: 6 } });
    const trained = await cli(['train', '--config', config, '--out', run, '--progress', 'none', '--quiet', '--backend', 'wasm', ...tinySettings]);
    expect(trained.code, trained.io.errors()).toBe(0);
    const saved = readFileSync(join(run, 'config.yaml'), 'utf8');
    expect(saved).toContain('kind: custom');
    expect(saved).toContain(`module: ${join(root, 'stride-policy.mjs')}`);
    const modelConfig = JSON.parse(readFileSync(join(run, 'model', 'config.json'), 'utf8')) as { policy: { kind: string; config: Record<string, unknown> } };
    expect(modelConfig.policy.kind).toBe('stride');
    expect(modelConfig.policy.config).toMatchObject({ window: 6, stride: 2, engramModule: { module: join(root, 'stride-policy.mjs'), export: 'stridePolicyDescriptor' } });

    // From another working directory's point of view: only absolute paths are used.
    const evaluated = await cli(['eval', run, '--tokens', '32', '--json', '--backend', 'wasm']);
    expect(evaluated.code).toBe(0);
    expect(JSON.parse(evaluated.io.output()).count).toBe(32);
    expect((await cli(['generate', run, '--prompt', 'The', '-n', '5', '--seed', '1', '--backend', 'wasm'])).code).toBe(0);
    expect((await cli(['inspect', run, '--tokens', '24', '--out', join(root, 'stride.svg'), '--backend', 'wasm'])).code).toBe(0);
    const exported = join(root, 'stride-checkpoint');
    expect((await cli(['export', run, '--checkpoint', 'latest', '--out', exported, '--backend', 'wasm'])).code).toBe(0);
    const fromCheckpoint = await cli(['eval', exported, '--tokens', '32', '--json', '--backend', 'wasm']);
    expect(fromCheckpoint.code).toBe(0);
    const resumed = await cli(['train', '--out', run, '--resume', '--steps', '3', '--progress', 'none', '--quiet', '--backend', 'wasm']);
    expect(resumed.code).toBe(0);
    expect(resumed.io.output()).toMatch(/^trained custom for 3 steps/);
  }, 120_000);

  it.each([
    ['a missing file', { module: './nowhere.mjs', options: { window: 6 } }, /memory\.module: the policy module .*nowhere\.mjs does not exist/],
    ['a missing export', { module: '../stride-policy.mjs', export: 'nope', options: { window: 6 } }, /has no export "nope" \(it exports .*"stridePolicyDescriptor".*\): set memory\.export/],
    ['an export that is not a descriptor', { module: '../stride-policy.mjs', export: 'notADescriptor' }, /export "notADescriptor" of .* is not a MemoryPolicyDescriptor .*: its optionsSchema is not a zod schema/],
    ['options its schema refuses', { module: '../stride-policy.mjs', export: 'stridePolicyDescriptor', options: { window: 0 } }, /invalid configuration .*memory\.options\.window: must be > 0, got 0/],
  ])('refuses %s with a message naming it and exits non-zero', async (name, memory, message) => {
    const config = configFile(name.replace(/\W+/g, '-'), memory);
    const out = join(root, `bad-${name.replace(/\W+/g, '-')}`);
    const { code, io } = await cli(['train', '--config', config, '--out', out, '--progress', 'none', '--quiet', '--backend', 'wasm', ...tinySettings]);
    expect(code).not.toBe(0);
    expect(io.errors()).toMatch(message);
  });
});

describe('a compressor from a user module', () => {
  it('trains a compressive memory with it and evaluates the saved model', async () => {
    const run = join(root, 'last-run');
    const config = configFile(
      'last',
      { memoryLength: 4, compressedLength: 4, compressionRate: 2, compressor: { module: '../last-compressor.mjs' } },
      'compressive',
    );
    const trained = await cli(['train', '--config', config, '--out', run, '--progress', 'none', '--quiet', '--backend', 'wasm', ...tinySettings]);
    expect(trained.code, trained.io.errors()).toBe(0);
    const modelConfig = JSON.parse(readFileSync(join(run, 'model', 'config.json'), 'utf8')) as { policy: { config: { compressor: Record<string, unknown> } } };
    expect(modelConfig.policy.config.compressor).toMatchObject({ kind: 'last-of-block', rate: 2, engramModule: { export: 'default' } });
    const evaluated = await cli(['eval', run, '--tokens', '32', '--json', '--backend', 'wasm']);
    expect(evaluated.code, evaluated.io.errors()).toBe(0);
  }, 120_000);
});
