// Builds native/gemm.c into src/wasm/gemm-binary.ts, gemm-shared-binary.ts, gemm-relaxed-binary.ts and
// gemm-relaxed-shared-binary.ts, native/adam.c into src/wasm/adam-binary.ts, native/span.c into span-binary.ts,
// native/loss.c into loss-binary.ts, native/norm.c into norm-binary.ts and native/pairs.c into pairs-binary.ts (base64),
// checks the modules own no heap memory; --check compares.
//
//   node scripts/build-wasm.mjs          rebuild and rewrite the nine files (pnpm build:wasm)
//   node scripts/build-wasm.mjs --check  rebuild into a temporary folder and fail unless the bytes equal the committed ones
//
// Four variants of the GEMM source: `gemm` imports an unshared memory (the tfjs wasm heap); `gemm-shared` imports a
// shared memory (-matomics -mbulk-memory, --shared-memory) for the threaded GEMM's SharedArrayBuffer (threaded-gemm.ts);
// `gemm-relaxed` and `gemm-relaxed-shared` are the same two with relaxed SIMD's fused multiply-add (gemm.ts picks them
// when the engine validates them).
//
// Needs Debian's clang and lld (`apt-get install clang lld`), clang 16 for the relaxed variants
// (`apt-get install clang-16 lld-16`), and llvm-objdump (from llvm, or next to clang) for the disassembly check. The
// module shares the tfjs wasm heap, so the build is refused if it has a data segment, an import other than env.memory,
// or any global.get/global.set (the only global wasm-ld defines is __stack_pointer).
import { execFileSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDirectory = join(dirname(fileURLToPath(import.meta.url)), '..');
const GEMM_EXPORTS = ['gemm_f32:function', 'gemm_scratch_floats:function', 'transpose_32:function'];
const COMMON_FLAGS = [
  '--target=wasm32',
  '-O3',
  '-msimd128',
  '-nostdlib',
  '-ffreestanding',
  '-fno-builtin',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-Wl,--no-entry',
  '-Wl,--import-memory',
];
/** The shared-memory module's maximum: 1 GiB (the JS memory is created with this maximum, see threaded-gemm.ts). */
const SHARED_MAXIMUM_BYTES = 1024 ** 3;
const SHARED_FLAGS = ['-matomics', '-mbulk-memory', '-Wl,--shared-memory', `-Wl,--max-memory=${SHARED_MAXIMUM_BYTES}`];
/**
 * The relaxed-SIMD GEMM (f32x4.relaxed_madd): clang 14 emits the pre-standard opcode for it, which engines reject,
 * so these two variants are built with clang 16 (`apt-get install clang-16 lld-16`); the others stay on clang 14.
 */
const RELAXED_COMPILER = 'clang-16';
const RELAXED_FLAGS = ['-mrelaxed-simd', '-DENGRAM_RELAXED_FMA'];
// Node 20 validates relaxed SIMD only behind this flag (on by default from Node 22); verify() instantiates the modules.
setFlagsFromString('--experimental-wasm-relaxed-simd');
const VARIANTS = [
  { name: 'gemm', source: 'gemm', label: 'GEMM', exports: GEMM_EXPORTS, constant: 'GEMM_WASM', flags: COMMON_FLAGS, shared: false },
  {
    name: 'gemm-shared',
    source: 'gemm',
    label: 'GEMM',
    exports: GEMM_EXPORTS,
    constant: 'GEMM_SHARED_WASM',
    flags: [...COMMON_FLAGS, ...SHARED_FLAGS],
    shared: true,
  },
  {
    name: 'gemm-relaxed',
    source: 'gemm',
    label: 'relaxed-SIMD GEMM',
    exports: GEMM_EXPORTS,
    constant: 'GEMM_RELAXED_WASM',
    compiler: RELAXED_COMPILER,
    flags: [...COMMON_FLAGS, ...RELAXED_FLAGS],
    shared: false,
  },
  {
    name: 'gemm-relaxed-shared',
    source: 'gemm',
    label: 'relaxed-SIMD GEMM',
    exports: GEMM_EXPORTS,
    constant: 'GEMM_RELAXED_SHARED_WASM',
    compiler: RELAXED_COMPILER,
    flags: [...COMMON_FLAGS, ...RELAXED_FLAGS, ...SHARED_FLAGS],
    shared: true,
  },
  { name: 'adam', source: 'adam', label: 'fused clip + Adam', exports: ['adam_f32:function', 'sum_of_squares_f32:function'], constant: 'ADAM_WASM', flags: COMMON_FLAGS, shared: false },
  {
    name: 'span',
    source: 'span',
    label: 'span mask and soft-masked softmax',
    exports: ['span_mask_f32:function', 'span_mask_grad_f32:function', 'span_penalty_f32:function', 'soft_masked_softmax_f32:function', 'soft_masked_softmax_grad_f32:function'],
    constant: 'SPAN_WASM',
    flags: COMMON_FLAGS,
    shared: false,
  },
  {
    name: 'loss',
    source: 'loss',
    label: 'softmax cross-entropy',
    exports: ['softmax_row_stats_f32:function', 'softmax_cross_entropy_grad_f32:function'],
    constant: 'LOSS_WASM',
    flags: COMMON_FLAGS,
    shared: false,
  },
  { name: 'norm', source: 'norm', label: 'layer norm', exports: ['layer_norm_f32:function', 'layer_norm_grad_f32:function'], constant: 'NORM_WASM', flags: COMMON_FLAGS, shared: false },
  { name: 'pairs', source: 'pairs', label: 'pair position scores', exports: ['pair_scores_f32:function', 'pair_scatter_f32:function', 'position_distances_f32:function'], constant: 'PAIRS_WASM', flags: COMMON_FLAGS, shared: false },
];
const outputPathOf = (variant) => join(packageDirectory, 'src', 'wasm', `${variant.name}-binary.ts`);

function fail(message) {
  console.error(`build-wasm: ${message}`);
  process.exit(1);
}

function run(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    if (error.code === 'ENOENT') {
      const packages = command === RELAXED_COMPILER ? `${RELAXED_COMPILER} lld-16` : 'clang lld llvm';
      fail(`${command} not found. Install it with \`apt-get install ${packages}\`.`);
    }
    fail(`${command} ${args.join(' ')} failed:\n${error.stderr ?? error.message}`);
  }
}

const compilerOf = (variant) => variant.compiler ?? 'clang';

function clangVersion(compiler) {
  return run(compiler, ['--version']).split('\n')[0].trim();
}

/** The llvm-objdump of `compiler`'s own LLVM (an older one may not decode newer opcodes), else the default one. */
function findObjdump(compiler) {
  for (const candidate of [run(compiler, ['-print-prog-name=llvm-objdump']).trim(), 'llvm-objdump']) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next one
    }
  }
  fail('llvm-objdump not found (needed to check the disassembly). Install it with `apt-get install llvm`.');
}

/** Section ids of a wasm binary, in order. */
function sectionIds(bytes) {
  const ids = [];
  let position = 8;
  while (position < bytes.length) {
    const id = bytes[position++];
    let size = 0;
    let shift = 0;
    let byte;
    do {
      byte = bytes[position++];
      size |= (byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    ids.push(id);
    position += size;
  }
  return ids;
}

/** Rejects a module that could touch heap memory it does not own. */
function verify(wasmPath, variant) {
  const bytes = readFileSync(wasmPath);
  const module = new WebAssembly.Module(bytes);
  const imports = WebAssembly.Module.imports(module);
  if (imports.length !== 1 || imports[0].module !== 'env' || imports[0].name !== 'memory' || imports[0].kind !== 'memory') {
    fail(`the module must import env.memory and nothing else, got ${JSON.stringify(imports)}`);
  }
  // Instantiating proves the memory import's kind: a shared import accepts only a shared memory and vice versa.
  const memory = variant.shared
    ? new WebAssembly.Memory({ initial: 256, maximum: SHARED_MAXIMUM_BYTES / 65536, shared: true })
    : new WebAssembly.Memory({ initial: 256 });
  try {
    new WebAssembly.Instance(module, { env: { memory } });
  } catch (error) {
    fail(`${variant.name}: the module does not accept ${variant.shared ? 'a shared' : 'an unshared'} memory: ${error.message}`);
  }
  const exports = WebAssembly.Module.exports(module).map((entry) => `${entry.name}:${entry.kind}`);
  for (const wanted of variant.exports) {
    if (!exports.includes(wanted)) fail(`the module must export ${wanted}, got ${exports.join(', ')}`);
  }
  const ids = sectionIds(bytes);
  if (ids.includes(11) || ids.includes(12)) fail('the module has a data segment (static data would overwrite the tfjs heap)');
  const disassembly = run(findObjdump(compilerOf(variant)), ['-d', wasmPath]);
  const globalAccess = disassembly.split('\n').filter((line) => /\bglobal\.(get|set)\b/.test(line));
  if (globalAccess.length > 0) {
    fail(`the code uses a global (the shadow stack, __stack_pointer, would live in the tfjs heap):\n${globalAccess.join('\n')}`);
  }
  return bytes;
}

function build(directory, variant) {
  const wasmPath = join(directory, `${variant.name}.wasm`);
  run(compilerOf(variant), [...variant.flags, '-o', wasmPath, join(packageDirectory, 'native', `${variant.source}.c`)]);
  return verify(wasmPath, variant);
}

function render(bytes, version, variant) {
  const { constant, flags } = variant;
  const base64 = Buffer.from(bytes).toString('base64');
  const lines = base64.match(/.{1,100}/g) ?? [];
  return [
    `// Generated by scripts/build-wasm.mjs from native/${variant.source}.c (${version}); do not edit: pnpm --filter @engram/kernels build:wasm.`,
    `/** Flags the module was built with (${compilerOf(variant)} ${flags.join(' ')}). */`,
    `export const ${constant}_BUILD = ${JSON.stringify({ compiler: version, flags })} as const;`,
    '',
    `/** The ${variant.shared ? 'shared-memory ' : ''}${variant.label} module, ${bytes.length} bytes, base64 (no file-system access needed to load it). */`,
    `export const ${constant}_BASE64 =`,
    lines.map((line) => `  '${line}'`).join(' +\n') + ';',
    '',
  ].join('\n');
}

function committedBytes(variant) {
  const outputPath = outputPathOf(variant);
  const file = `src/wasm/${variant.name}-binary.ts`;
  if (!existsSync(outputPath)) fail(`${file} is missing: run \`pnpm --filter @engram/kernels build:wasm\`.`);
  const text = readFileSync(outputPath, 'utf8');
  const start = text.indexOf(`export const ${variant.constant}_BASE64 =`);
  const base64 = [...text.slice(start).matchAll(/'([A-Za-z0-9+/=]*)'/g)].map((match) => match[1]).join('');
  const built = new RegExp(`export const ${variant.constant}_BUILD = (\\{.*\\}) as const;`).exec(text);
  return { bytes: Buffer.from(base64, 'base64'), compiler: built ? JSON.parse(built[1]).compiler : 'unknown' };
}

const check = process.argv.includes('--check');
const directory = mkdtempSync(join(tmpdir(), 'engram-gemm-'));
try {
  for (const variant of VARIANTS) {
    const version = clangVersion(compilerOf(variant));
    const file = `src/wasm/${variant.name}-binary.ts`;
    const bytes = build(directory, variant);
    if (check) {
      const committed = committedBytes(variant);
      if (!committed.bytes.equals(bytes)) {
        fail(
          `${file} does not match native/${variant.source}.c: rebuilt ${bytes.length} bytes with ${version}, ` +
            `committed ${committed.bytes.length} bytes built with ${committed.compiler}. ` +
            'Run `pnpm --filter @engram/kernels build:wasm` and commit the result' +
            (version === committed.compiler ? '.' : ' (or build with the committed compiler version).'),
        );
      }
      console.log(`build-wasm: ${file} matches native/${variant.source}.c (${bytes.length} bytes, ${version})`);
    } else {
      const outputPath = outputPathOf(variant);
      const temporary = `${outputPath}.${process.pid}.tmp`;
      writeFileSync(temporary, render(bytes, version, variant));
      renameSync(temporary, outputPath);
      console.log(`build-wasm: wrote ${file} (${bytes.length} bytes, ${version})`);
    }
  }
} finally {
  rmSync(directory, { recursive: true, force: true });
}
