// `engram plot RUN...`: learning curves of one or several runs (from their train.jsonl) drawn with Vega-Lite to SVG, or PNG through resvg.
import { stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { readTrainingLog, scalarsOf, type RunRecord } from '@engram/trainer/node';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { InputError, UsageError } from '../errors.js';
import { naming, writeFileAtomic } from '../files.js';
import { writeLine, type CommandIo } from '../io.js';
import { RUN_FILES } from './train.js';

/** Options of {@link plotCommand}. */
export interface PlotCommandOptions {
  /** Run directories of `engram train`, or train.jsonl files. */
  runs: string[];
  /** Output file: `.svg` or `.png`. */
  out: string;
  /** Scalar tags to draw (default `train/bits_per_token` and every evaluation's `<split>/bits_per_token`). */
  tags?: string[];
  /** Chart title (default: the tags' common unit). */
  title?: string;
}

/** One point of a curve. */
interface Point {
  run: string;
  tag: string;
  step: number;
  value: number;
}

async function logPathOf(run: string): Promise<string> {
  const info = await stat(run).catch(() => null);
  if (info === null) throw new InputError(run, `${run} does not exist: give a run directory of engram train or its train.jsonl`);
  const path = info.isDirectory() ? join(run, RUN_FILES.log) : run;
  if ((await stat(path).catch(() => null)) === null) {
    throw new InputError(run, `${run} has no ${RUN_FILES.log}: give a run directory of engram train (or the log file itself)`);
  }
  return path;
}

/** The points of `tags` (or the default bits-per-token curves) in one run's log, resumes resolved. */
export function curvesOf(logPath: string, runName: string, tags: readonly string[] | undefined): Point[] {
  const log = readTrainingLog(logPath);
  const points: Point[] = [];
  for (const record of [...log.steps, ...log.evaluations] as unknown as RunRecord[]) {
    const scalars = scalarsOf(record);
    if (scalars === null) continue;
    for (const [tag, value] of Object.entries(scalars.values)) {
      const wanted = tags === undefined ? tag.endsWith('/bits_per_token') : tags.includes(tag);
      if (wanted && Number.isFinite(value)) points.push({ run: runName, tag, step: scalars.step, value });
    }
  }
  return points;
}

/** Distinct short names for the runs (their directory names, made unique with the parent when they clash). */
function runNames(paths: readonly string[]): string[] {
  const names = paths.map((path) => basename(resolve(path).replace(/[/\\]train\.jsonl$/, '')));
  return names.map((name, index) => (names.indexOf(name) === names.lastIndexOf(name) ? name : `${name} (${index + 1})`));
}

/** The Vega-Lite spec of the curves: x step, y value, colour by run, dash by tag. */
export function curveSpec(points: readonly Point[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 640,
    height: 360,
    background: 'white',
    data: { values: points as unknown as Record<string, unknown>[] },
    mark: { type: 'line', point: points.length <= 200 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'value', type: 'quantitative', title, scale: { zero: false } },
      color: { field: 'run', type: 'nominal', title: 'run' },
      strokeDash: { field: 'tag', type: 'nominal', title: 'curve' },
    },
  };
}

/** Renders a Vega-Lite spec to SVG text (headless Vega, no canvas). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Draws the curves of `options.runs` into `options.out`; returns the number of points drawn. */
export async function plotCommand(options: PlotCommandOptions, io: CommandIo): Promise<{ points: number; out: string }> {
  if (options.runs.length === 0) throw new UsageError('engram plot needs at least one run directory');
  const format = extname(options.out).toLowerCase();
  if (format !== '.svg' && format !== '.png') {
    throw new UsageError(`--out ${options.out}: the file must end in .svg or .png`);
  }
  const paths = await Promise.all(options.runs.map(logPathOf));
  const names = runNames(options.runs);
  const points = paths.flatMap((path, index) => curvesOf(path, names[index] as string, options.tags));
  if (points.length === 0) {
    const wanted = options.tags === undefined ? 'bits per token' : options.tags.join(', ');
    throw new UsageError(`the logs of ${options.runs.join(', ')} hold no finite ${wanted} values: train longer, or pick --tag names from scalars.csv`);
  }
  const title = options.title ?? (options.tags === undefined ? 'bits per token' : options.tags.join(', '));
  const svg = await renderSvg(curveSpec(points, title));
  const out = resolve(options.out);
  const bytes =
    format === '.svg' ? svg : new Resvg(svg, { font: { loadSystemFonts: true }, fitTo: { mode: 'zoom', value: 2 } }).render().asPng();
  await naming(options.out, 'write the plot', () => writeFileAtomic(out, bytes));
  writeLine(io.stdout, `plotted ${points.length} points of ${options.runs.length} run(s) to ${out}`);
  return { points: points.length, out };
}
