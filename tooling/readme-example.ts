// Runs a package README's usage example as written, as a module of its own (Node, under vitest): its package import pointed at the sources, console.log captured, tensors left alive counted.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';

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
