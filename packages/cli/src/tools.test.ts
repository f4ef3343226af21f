// The tools around a run: TensorBoard and CSV logs of `engram train`, the best-checkpoint pointer, `engram plot` (SVG and PNG), the model card of `engram export`, `engram config --schema`, the new flags, --quiet and --version.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readEventFile, readTrainingLog } from '@engram/trainer/node';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { exportCommand } from './commands/export.js';
import { RUN_FILES, trainCommand } from './commands/train.js';
import { resolveConfig } from './config/resolve.js';
import { captureIo } from './io.js';
import { cliVersion, runCli } from './program.js';
import { temporaryRoot } from './test-support.js';

const root = temporaryRoot('engram-cli-tools-');

const tinyFlags = [
  '--set', 'model.modelDim=32', '--set', 'model.numHeads=2', '--set', 'model.numLayers=2', '--set', 'model.feedForwardDim=64',
  '--set', 'model.segmentLength=16', '--set', 'training.warmupSteps=1', '--set', 'memory.memoryLength=16',
  '--batch-size', '2', '--backend', 'wasm', '--offline',
];

describe('a run followed by its tools', () => {
  const run = join(root, 'run');
  const other = join(root, 'other');

  it('trains with the new flags and writes TensorBoard events, scalars.csv and best-checkpoint.json', async () => {
    const io = captureIo();
    const code = await runCli(
      ['train', '--kind', 'txl', ...tinyFlags, '--steps', '4', '--eval-every', '2', '--checkpoint-every', '4', '--eval-tokens', '48', '--out', run, '--progress', 'lines'],
      io,
    );
    expect(io.errors()).not.toContain('engram: ');
    expect(code).toBe(0);
    const config = parseYaml(readFileSync(join(run, 'config.yaml'), 'utf8'));
    expect(config.training).toMatchObject({ evalEvery: 2, checkpointEvery: 4, evalTokens: 48, steps: 4 });
    // Progress lines with units, the evaluation's own lines, and the summary.
    expect(io.errors()).toMatch(/step 4\/4 train \d+\.\d{4} bits\/token .* elapsed \d+:\d\d eta 0:00/);
    expect(io.errors()).toMatch(/evaluating validation \(\d+ batches\)/);
    expect(io.errors()).toMatch(/done: 4 steps \(to step 4\) in \d+:\d\d, [\d,]+ tokens\/s, best validation \d+\.\d{4} bits\/token at step [24]/);

    const files = readdirSync(join(run, RUN_FILES.tensorboard));
    expect(files.length).toBe(1);
    const { events } = readEventFile(join(run, RUN_FILES.tensorboard, files[0] as string));
    const steps = events.filter((event) => event.scalars?.['train/bits_per_token'] !== undefined).map((event) => event.step);
    expect(steps).toEqual([1, 2, 3, 4]);
    const validation = events.filter((event) => event.scalars?.['validation/bits_per_token'] !== undefined);
    expect(validation.map((event) => event.step)).toEqual([2, 4]);
    // The TensorBoard validation figure is the log's, in float32.
    const log = readTrainingLog(join(run, RUN_FILES.log));
    expect(validation[1]?.scalars?.['validation/bits_per_token']).toBe(Math.fround(log.evaluations[1]?.bitsPerToken as number));
    expect(log.headers[0]?.dataset).toMatchObject({ checksum: expect.stringMatching(/^[0-9a-f]{64}$/) });

    const csv = readFileSync(join(run, RUN_FILES.scalars), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('step,tag,value,time');
    expect(csv.some((row) => row.startsWith('4,validation/bits_per_token,'))).toBe(true);

    const pointer = JSON.parse(readFileSync(join(run, RUN_FILES.bestCheckpoint), 'utf8'));
    const best = log.evaluations.reduce((a, b) => ((b.bitsPerToken as number) < (a.bitsPerToken as number) ? b : a));
    expect(pointer).toMatchObject({ step: best.step, metric: 'bitsPerToken', value: best.bitsPerToken });
    expect(existsSync(join(run, pointer.checkpoint, 'manifest.json'))).toBe(true);
  });

  it('--quiet prints no progress and no information lines', async () => {
    const io = captureIo();
    const result = await trainCommand(
      {
        kind: 'txl',
        settings: ['model.modelDim=32', 'model.numHeads=2', 'model.numLayers=2', 'model.feedForwardDim=64', 'model.segmentLength=16', 'memory.memoryLength=16', 'training.steps=2', 'training.batchSize=2', 'training.evalTokens=48'],
        out: other,
        progress: 'none',
        quiet: true,
        backend: 'wasm',
        offline: true,
      },
      io,
    );
    expect(result.result.step).toBe(2);
    expect(io.errors()).toBe('');
    expect(io.output()).toMatch(/^trained txl for 2 steps/);
  });

  it('plots the learning curves of both runs to SVG and PNG', async () => {
    const svgPath = join(root, 'curves.svg');
    const io = captureIo();
    expect(await runCli(['plot', run, other, '--out', svgPath], io)).toBe(0);
    const svg = readFileSync(svgPath, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    // Both runs are in the legend, and there are line paths.
    expect(svg).toContain('>run<');
    expect(svg).toContain('>other<');
    expect(svg).toMatch(/<path[^>]* d="M[\d.,-]+L/);

    const pngPath = join(root, 'curves.png');
    expect(await runCli(['plot', run, '--tag', 'train/gradient_norm', '--out', pngPath], captureIo())).toBe(0);
    const png = readFileSync(pngPath);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // IHDR: width and height of the 2x render of a 640 x 360 plot area plus axes and legend.
    expect(png.subarray(12, 16).toString('latin1')).toBe('IHDR');
    expect(png.readUInt32BE(16)).toBeGreaterThan(1280);

    const bad = captureIo();
    expect(await runCli(['plot', run, '--out', join(root, 'curves.gif')], bad)).toBe(2);
    expect(bad.errors()).toMatch(/must end in \.svg or \.png/);
    const missing = captureIo();
    expect(await runCli(['plot', join(root, 'nowhere')], missing)).not.toBe(0);
    expect(missing.errors()).toMatch(/does not exist/);
  });

  it('export writes a model card with kind, config, data checksum, steps and figures', async () => {
    const out = join(root, 'exported');
    await exportCommand({ source: run, out }, captureIo());
    const card = readFileSync(join(out, 'README.md'), 'utf8');
    const log = readTrainingLog(join(run, RUN_FILES.log));
    expect(card).toContain('# engram txl model');
    expect(card).toContain(`- data checksum: ${(log.headers[0]?.dataset as { checksum: string }).checksum}`);
    expect(card).toContain('- steps: 4');
    expect(card).toContain(`- validation: ${(log.evaluations[1]?.bitsPerToken as number).toFixed(4)} bits per token at the end`);
    expect(card).toMatch(/- best validation: \d\.\d{4} bits per token at step [24]/);
    expect(card).toContain("loadModel('<this directory>')");
    expect(card).toContain('evalEvery: 2');
  });
});

describe('engram config --schema', () => {
  it('prints a JSON Schema that accepts real configurations and refuses wrong ones', async () => {
    const io = captureIo();
    expect(await runCli(['config', '--schema'], io)).toBe(0);
    const schema = JSON.parse(io.output());
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(schema);
    for (const kind of ['txl', 'compressive', 'expire-span', 'adaptive-span'] as const) {
      const config = resolveConfig({ kind, preset: 'small' });
      expect(validate(config), JSON.stringify(validate.errors)).toBe(true);
    }
    // A partial file (laid over a preset) is fine; a typo or a wrong type is not.
    expect(validate({ kind: 'txl', training: { steps: 10 } })).toBe(true);
    expect(validate({ kind: 'txl', training: { stpes: 10 } })).toBe(false);
    expect(validate({ kind: 'txl', training: { steps: 'ten' } })).toBe(false);
    expect(validate({ kind: 'lstm' })).toBe(false);
  });
});

describe('engram --version', () => {
  it("prints the package's version", async () => {
    const io = captureIo();
    expect(await runCli(['--version'], io)).toBe(0);
    const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    expect(io.output().trim()).toBe(version);
    expect(cliVersion).toBe(version);
  });
});
