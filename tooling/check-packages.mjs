// Checks every published package as npm would receive it: packs it with pnpm, then runs publint, @arethetypeswrong/cli (ESM-only profile) and Engram's own rules (manifest, LICENSE, exports inside the tarball, internal ranges, README install line) on the tarball.
// Usage (after `pnpm build`): node tooling/check-packages.mjs [package-folder-name ...]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const packagesFolder = join(root, 'packages');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const LICENSE_LINE = 'Copyright (c) 2026 the Engram authors';

/** Runs pnpm: the one running this script when there is one (`pnpm check:packages`), else the one on PATH. */
function pnpm(args, cwd) {
  const execPath = process.env.npm_execpath;
  if (execPath !== undefined && /pnpm/.test(execPath)) return execFileSync(process.execPath, [execPath, ...args], { cwd, encoding: 'utf8' });
  return execFileSync('pnpm', args, { cwd, encoding: 'utf8' });
}

const workspace = new Map();
for (const folder of readdirSync(packagesFolder)) {
  const manifestPath = join(packagesFolder, folder, 'package.json');
  if (!existsSync(manifestPath)) continue;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  workspace.set(manifest.name, { folder, manifest });
}

/** Every string target of an `exports` map, with the conditions that lead to it. */
function exportTargets(value, path = []) {
  if (typeof value === 'string') return [{ path, target: value }];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, entry]) => exportTargets(entry, [...path, key]));
}

/** Engram's rules for one packed tarball; returns the problems found. */
function checkTarball(folder, tarball) {
  const problems = [];
  const files = new Set(execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean).map((entry) => entry.replace(/^package\//, '')));
  const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
  const has = (file) => files.has(file.replace(/^\.\//, ''));

  if (!has('LICENSE')) problems.push('no LICENSE file in the tarball (add packages/<name>/LICENSE)');
  else {
    const license = execFileSync('tar', ['-xzOf', tarball, 'package/LICENSE'], { encoding: 'utf8' });
    if (!license.startsWith('MIT License') || !license.includes(LICENSE_LINE)) problems.push(`LICENSE is not the MIT text with "${LICENSE_LINE}"`);
  }
  if (!has('README.md')) problems.push('no README.md in the tarball');
  if (manifest.license !== 'MIT') problems.push(`"license" is ${JSON.stringify(manifest.license)}, expected "MIT"`);
  if (manifest.type !== 'module') problems.push('"type" must be "module" (the packages are ESM-only)');
  if (typeof manifest.repository?.url !== 'string' || manifest.repository?.directory !== `packages/${folder}`) {
    problems.push(`"repository" needs a "url" and "directory": "packages/${folder}"`);
  }
  if (typeof manifest.homepage !== 'string' || !manifest.homepage.startsWith('https://')) problems.push('"homepage" must be an https URL');
  if (!Array.isArray(manifest.keywords) || manifest.keywords.length === 0) problems.push('"keywords" must be a non-empty list');
  if (typeof manifest.engines?.node !== 'string') problems.push('"engines.node" is missing');
  if (manifest.publishConfig?.access !== 'public') problems.push('"publishConfig.access" must be "public"');

  if (manifest.exports?.['./package.json'] !== './package.json') problems.push('"exports" lacks "./package.json": "./package.json"');
  const workspaceSubpaths = Object.keys(workspace.get(manifest.name)?.manifest.exports ?? {});
  for (const subpath of workspaceSubpaths) {
    if (!(subpath in (manifest.exports ?? {}))) problems.push(`publishConfig.exports lacks "${subpath}", which the workspace manifest exports (the published package would not have it)`);
  }
  for (const { path, target } of exportTargets(manifest.exports)) {
    const where = `exports ${path.map((key) => JSON.stringify(key)).join(' > ')}`;
    if (path.includes('@engram/source')) problems.push(`${where}: the @engram/source condition is for the workspace only (publishConfig.exports must drop it)`);
    if (!has(target)) problems.push(`${where} -> ${target}, which is not in the tarball${target.startsWith('./dist/') ? ' (run pnpm build first)' : ''}`);
  }
  for (const [name, target] of Object.entries(typeof manifest.bin === 'string' ? { [manifest.name]: manifest.bin } : (manifest.bin ?? {}))) {
    if (!has(target)) problems.push(`bin ${name} -> ${target}, which is not in the tarball`);
  }
  for (const file of files) {
    if (/\.test\.[cm]?[jt]sx?$/.test(file) || file.startsWith('src/')) problems.push(`${file} is shipped (tests and sources stay out of the tarball)`);
  }
  if (has('README.md')) problems.push(...checkReadme(execFileSync('tar', ['-xzOf', tarball, 'package/README.md'], { encoding: 'utf8' })));
  for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
    for (const [name, range] of Object.entries(manifest[field] ?? {})) {
      if (String(range).startsWith('workspace:')) problems.push(`${field}.${name} is still ${range} (pack with pnpm, which rewrites it)`);
      const sibling = workspace.get(name);
      if (sibling === undefined) continue;
      if (sibling.manifest.private === true) problems.push(`${field}.${name}: that package is private and never published`);
      const expected = `^${sibling.manifest.version}`;
      if (range !== expected) problems.push(`${field}.${name} is ${range}, expected ${expected} (the version changesets publishes; use "workspace:^")`);
    }
  }
  return problems;
}

/** `@scope/name/sub@1.2.3` -> `@scope/name`. */
function packageNameOf(specifier) {
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? '');
  return name.replace(/(.)@.*$/, '$1');
}

const isBackend = (name) => /^@tensorflow\/tfjs-(backend-|node)/.test(name);

/**
 * README rules: it says the package is ESM-only, and the first install command of its Install
 * section names every package its code examples (ts or js) import, and beyond those only their peer
 * dependencies and TensorFlow.js backends.
 */
function checkReadme(readme) {
  const problems = [];
  if (!readme.includes('ESM-only')) problems.push('README does not say the package is ESM-only');
  const install = /## Install\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme);
  const command = install?.[1].split('\n').find((line) => /^(npm install|pnpm add)\b/.test(line.trim()));
  if (command === undefined) return [...problems, 'README has no "## Install" section with an npm install / pnpm add line'];
  const installed = new Set(
    command.replace(/#.*$/, '').trim().split(/\s+/).slice(2).filter((word) => !word.startsWith('-')).map(packageNameOf),
  );
  const imported = new Set();
  for (const block of readme.matchAll(/```(?:ts|typescript|js|javascript|mjs)\n([\s\S]*?)```/g)) {
    for (const match of (block[1] ?? '').matchAll(/(?:from|import)\s+'([^']+)'/g)) {
      const specifier = match[1] ?? '';
      if (!specifier.startsWith('.') && !specifier.startsWith('node:')) imported.add(packageNameOf(specifier));
    }
  }
  const peers = new Set([...imported].flatMap((name) => Object.keys(workspace.get(name)?.manifest.peerDependencies ?? {})));
  for (const name of imported) if (!installed.has(name)) problems.push(`README install line lacks ${name}, which its example imports`);
  for (const name of installed) {
    if (!imported.has(name) && !peers.has(name) && !isBackend(name)) problems.push(`README install line names ${name}, which no example imports`);
  }
  return problems;
}

/** Runs a checker CLI on the tarball; returns its output when it fails, else null. */
function runTool(command, args) {
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  if (result.status === 0) return null;
  return `${result.stdout}${result.stderr}`.trim() || `${command} exited with ${result.status}`;
}

const wanted = process.argv.slice(2);
const published = [...workspace.values()].filter(({ folder, manifest }) => manifest.private !== true && (wanted.length === 0 || wanted.includes(folder)));
const destination = mkdtempSync(join(tmpdir(), 'engram-packs-'));
let failures = 0;
try {
  for (const { folder, manifest } of published) {
    const before = new Set(readdirSync(destination));
    pnpm(['pack', '--pack-destination', destination], join(packagesFolder, folder));
    const packed = readdirSync(destination).find((entry) => !before.has(entry) && entry.endsWith('.tgz'));
    if (packed === undefined) throw new Error(`pnpm pack produced no tarball for ${manifest.name}`);
    const tarball = join(destination, packed);
    const problems = checkTarball(folder, tarball);
    const publint = runTool(bin('publint'), ['run', tarball, '--strict']);
    if (publint !== null) problems.push(`publint:\n${publint}`);
    const attw = runTool(bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'ascii', '--no-emoji', '--no-color']);
    if (attw !== null) problems.push(`@arethetypeswrong/cli:\n${attw}`);
    if (problems.length === 0) console.log(`ok   ${manifest.name} (${packed})`);
    else {
      failures += 1;
      console.log(`FAIL ${manifest.name} (${packed})`);
      for (const problem of problems) console.log(`  - ${problem.replace(/\n/g, '\n    ')}`);
    }
  }
} finally {
  rmSync(destination, { recursive: true, force: true });
}
console.log(`${published.length - failures} of ${published.length} packages pass the publish checks`);
process.exit(failures === 0 ? 0 : 1);
