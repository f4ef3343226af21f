// Tests of configuration resolution: presets, file formats, overrides and field-level validation errors.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigFileError, ConfigValidationError, UsageError } from '../errors.js';
import { presetConfig, presetNames } from './presets.js';
import { mergeConfig, parseSetting, resolveConfig, validateConfig } from './resolve.js';
import { modelKinds } from './schema.js';

function issuesOf(run: () => unknown): { path: string; message: string }[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValidationError);
    return [...(error as ConfigValidationError).issues];
  }
  throw new Error('expected a ConfigValidationError');
}

describe('presets', () => {
  it.each(modelKinds.flatMap((kind) => presetNames.map((preset) => [kind, preset] as const)))(
    '%s / %s resolves to a valid configuration',
    (kind, preset) => {
      const config = resolveConfig({ kind, preset });
      expect(config.kind).toBe(kind);
      expect(config.preset).toBe(preset);
      expect(config.model.modelDim % config.model.numHeads).toBe(0);
      expect(config.backend).toBe('auto');
    },
  );

  it('tiny and small match the bench speed shapes', () => {
    expect(presetConfig('txl', 'tiny').model).toEqual({
      modelDim: 128, numHeads: 4, numLayers: 2, feedForwardDim: 512, segmentLength: 64,
    });
    expect(presetConfig('txl', 'small').model).toEqual({
      modelDim: 256, numHeads: 4, numLayers: 4, feedForwardDim: 1024, segmentLength: 128,
    });
  });

  it('keeps the attention cost of TXL and Compressive equal within a preset', () => {
    for (const preset of ['tiny', 'small'] as const) {
      const txl = resolveConfig({ kind: 'txl', preset });
      const compressive = resolveConfig({ kind: 'compressive', preset });
      if (txl.kind !== 'txl' || compressive.kind !== 'compressive') throw new Error('kinds');
      expect(compressive.memory.memoryLength + compressive.memory.compressedLength).toBe(txl.memory.memoryLength);
    }
  });

  it('defaults to txl / tiny and fills defaults', () => {
    const config = resolveConfig({});
    expect(config.kind).toBe('txl');
    expect(config.preset).toBe('tiny');
    expect(config.model.norm).toBe('pre');
    expect(config.training.clipNorm).toBe(0.25);
    expect(config.data.corpus).toBe('moby-dick');
    expect(config.model.vocabSize).toBe('auto');
  });

  it('compressive training defaults to none for non-parametric compressors', () => {
    const config = resolveConfig({ kind: 'compressive', settings: ['memory.compressor=mean-pool'] });
    expect(config.kind === 'compressive' && config.memory.training).toBe('none');
    const conv = resolveConfig({ kind: 'compressive' });
    expect(conv.kind === 'compressive' && conv.memory.training).toBe('attention-reconstruction');
  });
});

describe('sources and precedence', () => {
  const directory = mkdtempSync(join(tmpdir(), 'engram-config-'));

  it('reads YAML and JSON files and lets flags override them', () => {
    const yamlFile = join(directory, 'run.yaml');
    writeFileSync(yamlFile, 'kind: expire-span\npreset: tiny\nmodel:\n  numLayers: 3\nmemory:\n  ramp: 8\n');
    const fromYaml = resolveConfig({ file: yamlFile, settings: ['model.numLayers=5'] });
    expect(fromYaml.kind).toBe('expire-span');
    expect(fromYaml.model.numLayers).toBe(5);
    expect(fromYaml.kind === 'expire-span' && fromYaml.memory.ramp).toBe(8);
    expect(fromYaml.model.modelDim).toBe(128);

    const jsonFile = join(directory, 'run.json');
    writeFileSync(jsonFile, JSON.stringify({ kind: 'adaptive-span', training: { steps: 7 } }));
    const fromJson = resolveConfig({ file: jsonFile, overrides: [{ training: { batchSize: 3 } }], backend: 'cpu' });
    expect(fromJson.kind).toBe('adaptive-span');
    expect(fromJson.training.steps).toBe(7);
    expect(fromJson.training.batchSize).toBe(3);
    expect(fromJson.backend).toBe('cpu');
  });

  it('a --kind flag beats the file kind and takes that kind\'s preset memory', () => {
    const file = join(directory, 'kind.yaml');
    writeFileSync(file, 'kind: compressive\n');
    const config = resolveConfig({ file, kind: 'txl' });
    expect(config.kind).toBe('txl');
    expect(config.memory).toEqual({ memoryLength: 64 });
  });

  it('parses --set values as YAML scalars and lists', () => {
    expect(parseSetting('model.numLayers=4')).toEqual({ model: { numLayers: 4 } });
    expect(parseSetting('memory.dilations=[1, 2]')).toEqual({ memory: { dilations: [1, 2] } });
    expect(parseSetting('model.tieEmbeddings=true')).toEqual({ model: { tieEmbeddings: true } });
    expect(parseSetting('data.path=a=b.txt')).toEqual({ data: { path: 'a=b.txt' } });
    expect(() => parseSetting('numLayers')).toThrow(UsageError);
    expect(() => parseSetting('model..x=1')).toThrow(UsageError);
  });

  it('merges objects deeply and replaces arrays', () => {
    expect(mergeConfig({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } })).toEqual({ a: { b: 1, c: [3] } });
  });

  it('reports unreadable and malformed files with the file name', () => {
    expect(() => resolveConfig({ file: join(directory, 'missing.yaml') })).toThrow(ConfigFileError);
    const bad = join(directory, 'bad.json');
    writeFileSync(bad, '{ "kind": ');
    expect(() => resolveConfig({ file: bad })).toThrow(/bad\.json: is not valid JSON/);
    const list = join(directory, 'list.yaml');
    writeFileSync(list, '- 1\n- 2\n');
    expect(() => resolveConfig({ file: list })).toThrow(/must hold an object at the top level, got an array of 2/);
  });
});

describe('field-level validation', () => {
  it('names every bad field with expected and actual values', () => {
    const issues = issuesOf(() =>
      resolveConfig({
        settings: ['training.steps=0', 'training.learningRate=fast', 'data.tokenizer=words', 'model.numLayers=1.5'],
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'training.steps', message: 'must be > 0, got 0' },
        { path: 'training.learningRate', message: 'expected number, got "fast"' },
        { path: 'data.tokenizer', message: 'must be byte, character, word, subword or a path ending in .json, got "words"' },
        { path: 'model.numLayers', message: 'expected an integer, got 1.5' },
      ]),
    );
  });

  it('suggests the closest name for an unknown field', () => {
    const issues = issuesOf(() => resolveConfig({ settings: ['model.numHead=2'] }));
    expect(issues).toEqual([
      { path: 'model.numHead', message: 'unknown field (did you mean "numHeads"?): remove it or fix its name' },
    ]);
  });

  it('checks cross-field rules', () => {
    expect(issuesOf(() => resolveConfig({ settings: ['model.numHeads=3'] }))).toEqual([
      {
        path: 'model.numHeads',
        message: 'must divide modelDim (128) evenly, got 3: pick a head count such that modelDim / numHeads is a whole number',
      },
    ]);
    expect(
      issuesOf(() => resolveConfig({ kind: 'compressive', settings: ['memory.compressor=max-pool', 'memory.training=bptt'] })),
    ).toEqual([
      {
        path: 'memory.training',
        message: 'compressor "max-pool" has no parameters to train, so training must be "none", got "bptt"',
      },
    ]);
    expect(issuesOf(() => resolveConfig({ settings: ['data.corpus=local'] }))).toEqual([
      { path: 'data.path', message: 'is required when corpus is "local": give the text file or folder to train on' },
    ]);
  });

  it('rejects unknown kinds, presets and backends', () => {
    expect(issuesOf(() => resolveConfig({ kind: 'lstm' }))[0]?.path).toBe('kind');
    expect(issuesOf(() => resolveConfig({ preset: 'huge' }))[0]).toEqual({
      path: 'preset',
      message: 'must be one of "tiny", "small", "paper", got "huge"',
    });
    expect(issuesOf(() => resolveConfig({ backend: 'webgpu' }))[0]?.path).toBe('backend');
  });

  it('puts all issues on one line in the message', () => {
    try {
      validateConfig({ kind: 'txl' }, 'test');
    } catch (error) {
      expect((error as Error).message).toBe(
        'invalid configuration (test): model: is required (expected object); training: is required (expected object); memory: is required (expected object)',
      );
      expect((error as ConfigValidationError).exitCode).toBe(2);
      return;
    }
    throw new Error('expected an error');
  });
});
