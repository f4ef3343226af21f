// Bundles every browser entry of the library packages with esbuild for `platform: 'browser'` and fails on any Node built-in they reach.
import { readFileSync, readdirSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { describe, expect, test } from 'vitest';

const packagesDirectory = fileURLToPath(new URL('../../../packages/', import.meta.url));

/** Entries that may use Node: the `/node` file-system entries, and the cli (except its `/browser` entry). */
function isNodeOnly(packageName: string, subpath: string): boolean {
  return subpath === './node' || (packageName === '@engram/cli' && subpath !== './browser');
}

interface Entry {
  specifier: string;
  file: string;
  nodeOnly: boolean;
}

function entries(): Entry[] {
  const found: Entry[] = [];
  for (const directory of readdirSync(packagesDirectory)) {
    const manifest = JSON.parse(readFileSync(join(packagesDirectory, directory, 'package.json'), 'utf8')) as {
      name: string;
      exports: Record<string, string | { '@engram/source': string }>;
    };
    for (const [subpath, target] of Object.entries(manifest.exports)) {
      if (typeof target === 'string') continue; // ./package.json

      found.push({
        specifier: subpath === '.' ? manifest.name : `${manifest.name}${subpath.slice(1)}`,
        file: join(packagesDirectory, directory, target['@engram/source']),
        nodeOnly: isNodeOnly(manifest.name, subpath),
      });
    }
  }
  return found;
}

/** The Node built-ins a browser bundle of `file` imports, as `importer -> module` lines. */
async function nodeBuiltinsReached(file: string): Promise<string[]> {
  const reached: string[] = [];
  const recordBuiltins: Plugin = {
    name: 'record-node-builtins',
    setup(pluginBuild) {
      pluginBuild.onResolve({ filter: /.*/ }, (args) => {
        // `node:` names Node does not list yet (node:sqlite on Node 20) count too.
        if (!isBuiltin(args.path) && !args.path.startsWith('node:')) return undefined;
        reached.push(`${args.importer.replace(packagesDirectory, 'packages/')} -> ${args.path}`);
        return { path: args.path, external: true };
      });
    },
  };
  await build({
    entryPoints: [file],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'esm',
    conditions: ['@engram/source'],
    // tfjs and its backends are the app's own (peer) dependencies; the native tfjs-node is loaded only on request.
    external: ['@tensorflow/*'],
    plugins: [recordBuiltins],
    logLevel: 'silent',
  });
  return reached;
}

const all = entries();

describe('library packages bundle for browsers', () => {
  test('the entries are found (each library package and its /node split)', () => {
    const specifiers = all.map((entry) => entry.specifier);
    for (const name of ['@engram/kernels', '@engram/model', '@engram/datasets', '@engram/trainer', '@engram/memory', '@engram/cli/browser']) {
      expect(specifiers).toContain(name);
    }
    expect(specifiers).toContain('@engram/model/node');
  });

  test.each(all.filter((entry) => !entry.nodeOnly).map((entry) => [entry.specifier, entry.file]))(
    '%s reaches no Node built-in',
    async (_, file) => {
      expect(await nodeBuiltinsReached(file)).toEqual([]);
    },
  );

  test('the check sees Node built-ins: @engram/model/node and @engram/datasets/node reach node:fs', async () => {
    const modelNode = all.find((entry) => entry.specifier === '@engram/model/node') as Entry;
    const datasetsNode = all.find((entry) => entry.specifier === '@engram/datasets/node') as Entry;
    expect((await nodeBuiltinsReached(modelNode.file)).some((line) => line.endsWith('-> node:fs'))).toBe(true);
    expect((await nodeBuiltinsReached(datasetsNode.file)).some((line) => line.includes('node:fs'))).toBe(true);
  });
});
