// Tests of the command tree: help everywhere, one-line errors with non-zero exit codes, config printing.
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { captureIo } from './io.js';
import { runCli } from './program.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureIo();
  const code = await runCli(argv, io);
  return { code, out: io.output(), err: io.errors() };
}

describe('help', () => {
  it('lists every command at the top level', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(0);
    for (const command of ['train', 'eval', 'generate', 'export', 'inspect', 'data', 'config', 'presets']) {
      expect(out).toMatch(new RegExp(`\\n  ${command}\\b`));
    }
    expect(out).toContain('Examples:');
  });

  it.each([
    [['train', '--help'], ['--kind <kind>', '--preset <name>', '--config <file>', '--set <path=value>', '--backend <name>', '--resume']],
    [['eval', '--help'], ['<model>', '--split <name>', '--tokens <n>', '--json']],
    [['generate', '--help'], ['--prompt <text>', '--max-new-tokens <n>', '--strategy <name>', '--top-p <x>']],
    [['export', '--help'], ['--out <dir>', '--checkpoint <which>', '--format <format>']],
    [['inspect', '--help'], ['--text <file>', '--out <file>', '--tokens <n>']],
    [['data', '--help'], ['list', 'download', 'verify', 'prepare']],
    [['data', 'prepare', '--help'], ['<corpus>', '--tokenizer <kind>', '--cache-dir <dir>']],
    [['config', '--help'], ['--format <format>', '--set <path=value>']],
  ])('%j describes its options', async (argv, expected) => {
    const { code, out } = await run(argv);
    expect(code).toBe(0);
    for (const text of expected) expect(out).toContain(text);
  });

  it('prints the version', async () => {
    expect((await run(['--version'])).out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('errors', () => {
  it.each([
    [['train', '--out', 'x', '--frobnicate']],
    [['train']],
    [['train', '-o', 'x', '--kind', 'lstm']],
    [['eval']],
    [['generate', 'x', '--max-new-tokens', 'many']],
    [['no-such-command']],
    [['config', '--set', 'model.numHeads=3']],
    [['config', '--set', 'nonsense']],
    [['config', '--config', '/definitely/not/here.yaml']],
    [['eval', '/definitely/not/here', '--backend', 'wasm']],
    [['data', 'verify', 'imaginary-corpus']],
  ])('%j exits non-zero with exactly one line on stderr', async (argv) => {
    const { code, out, err } = await run(argv);
    expect(code).toBeGreaterThan(0);
    expect(out).toBe('');
    expect(err.endsWith('\n')).toBe(true);
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(err).toMatch(/^engram: /);
  });

  it('names the bad field and the fix', async () => {
    const { code, err } = await run(['config', '--kind', 'compressive', '--set', 'memory.compresionRate=2']);
    expect(code).toBe(2);
    expect(err).toBe(
      'engram: invalid configuration (flags): memory.compresionRate: unknown field (did you mean "compressionRate"?): remove it or fix its name\n',
    );
  });
});

describe('config and presets', () => {
  it('prints the resolved configuration as YAML or JSON', async () => {
    const yaml = await run(['config', '--kind', 'expire-span', '--preset', 'small', '--set', 'memory.ramp=8']);
    expect(yaml.code).toBe(0);
    const parsed = parseYaml(yaml.out) as { kind: string; memory: { ramp: number; maxSpan: number } };
    expect(parsed.kind).toBe('expire-span');
    expect(parsed.memory).toMatchObject({ ramp: 8, maxSpan: 1024 });
    const json = await run(['config', '--format', 'json', '--backend', 'cpu']);
    expect(JSON.parse(json.out)).toMatchObject({ kind: 'txl', preset: 'tiny', backend: 'cpu' });
  });

  it('lists twelve presets with their temporal ranges', async () => {
    const { out } = await run(['presets']);
    const rows = out.trim().split('\n');
    expect(rows).toHaveLength(13);
    expect(rows[1]).toMatch(/^txl\s+tiny\s+2\s+128\s+4\s+512\s+64\s+memoryLength=64\s+128$/);
  });
});
