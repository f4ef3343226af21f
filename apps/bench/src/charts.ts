// Dependency-free SVG charts for the bench reports: line charts (learning curves, memory over time), scatter plots, and grouped bar charts.

/** One named series of (x, y) points. */
export interface ChartSeries {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
  /** Half-width of an error bar at each point (same order as `points`; e.g. the standard deviation over seeds). */
  errors?: ReadonlyArray<number>;
}

/** A horizontal line across the plot at `value` (e.g. chance accuracy), labelled at its right end. */
export interface ReferenceLine {
  value: number;
  label: string;
}

/** What to draw. */
export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  /** `line` joins points in x order; `scatter` draws labelled dots (default `line`). */
  mode?: 'line' | 'scatter';
  /** Dashed grey lines such as chance levels. */
  referenceLines?: readonly ReferenceLine[];
  /** A line of small text under the chart: backend, steps, seeds. */
  caption?: string;
  width?: number;
  height?: number;
}

/** Colour-blind-safe palette (Okabe-Ito), cycled over series. */
const palette = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];
/** Stroke patterns cycled over series, so overlapping lines stay apart without colour. */
const dashes = ['', '7 4', '2 3', '9 3 2 3', '4 2', '1 4'];
/** Marker shapes cycled over series. */
const markers = ['circle', 'square', 'triangle', 'diamond'] as const;
/** A line series with at most this many points gets a marker on every point. */
const markerLimit = 20;

function colourOf(index: number): string {
  return palette[index % palette.length] ?? '#000000';
}

function marker(index: number, x: number, y: number, colour: string, size = 4): string {
  const shape = markers[index % markers.length];
  const [cx, cy] = [round(x), round(y)];
  switch (shape) {
    case 'square':
      return `<rect x="${round(cx - size)}" y="${round(cy - size)}" width="${2 * size}" height="${2 * size}" fill="${colour}"/>`;
    case 'triangle':
      return `<path d="M${cx},${round(cy - size - 1)} L${round(cx + size + 1)},${round(cy + size)} L${round(cx - size - 1)},${round(cy + size)} Z" fill="${colour}"/>`;
    case 'diamond':
      return `<path d="M${cx},${round(cy - size - 1)} L${round(cx + size + 1)},${cy} L${cx},${round(cy + size + 1)} L${round(cx - size - 1)},${cy} Z" fill="${colour}"/>`;
    default:
      return `<circle cx="${cx}" cy="${cy}" r="${size}" fill="${colour}"/>`;
  }
}

/** Spreads label positions (sorted by wish) so no two are closer than `gap`, staying inside [low, high]. */
export function spreadLabels(wishes: readonly number[], gap: number, low: number, high: number): number[] {
  const order = wishes.map((value, index) => ({ value, index })).sort((a, b) => a.value - b.value);
  const placed = order.map((entry) => entry.value);
  for (let i = 0; i < placed.length; i++) placed[i] = Math.max(placed[i] as number, i === 0 ? low : (placed[i - 1] as number) + gap);
  const overflow = (placed[placed.length - 1] ?? high) - high;
  if (overflow > 0) {
    for (let i = placed.length - 1; i >= 0; i--) {
      placed[i] = Math.min(placed[i] as number, i === placed.length - 1 ? high : (placed[i + 1] as number) - gap);
    }
  }
  const result = new Array<number>(wishes.length);
  order.forEach((entry, i) => (result[entry.index] = placed[i] as number));
  return result;
}

/** Legend entries laid out in rows under the title; returns the SVG parts and the height used. */
function legend(
  entries: readonly { name: string; swatch: (x: number, y: number) => string }[],
  width: number,
): { parts: string[]; height: number } {
  const parts: string[] = [];
  let x = 12;
  let y = 40;
  for (const entry of entries) {
    const itemWidth = 36 + 6.5 * entry.name.length + 14;
    if (x > 12 && x + itemWidth > width - 12) {
      x = 12;
      y += 16;
    }
    parts.push(entry.swatch(x, y - 4), `<text x="${round(x + 30)}" y="${y}">${escapeXml(entry.name)}</text>`);
    x += itemWidth;
  }
  return { parts, height: entries.length === 0 ? 0 : y - 40 + 16 };
}

function header(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
}

/** The caption broken into lines that fit `width` (about 5.6 px per character at font size 10). */
function wrapCaption(caption: string | undefined, width: number): string[] {
  if (caption === undefined || caption === '') return [];
  const limit = Math.max(20, Math.floor((width - 24) / 5.6));
  const lines: string[] = [];
  let line = '';
  for (const word of caption.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > limit) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** Extra bottom margin the wrapped caption needs. */
function captionHeight(caption: string | undefined, width: number): number {
  const lines = wrapCaption(caption, width).length;
  return lines === 0 ? 0 : 6 + 13 * lines;
}

function captionLine(caption: string | undefined, width: number, height: number): string[] {
  const lines = wrapCaption(caption, width);
  return lines.map(
    (line, index) => `<text x="12" y="${height - 8 - 13 * (lines.length - 1 - index)}" font-size="10" fill="#555">${escapeXml(line)}</text>`,
  );
}

/**
 * Renders a line or scatter chart as a standalone SVG document. Line series with at most 20 points get
 * markers; every series has its own colour, dash pattern and marker, and line series are labelled at
 * their last point (labels spread apart) as well as in the legend. Error bars are drawn where a series
 * has `errors`; reference lines are dashed grey with their label. Series with no finite points are
 * listed in the legend only.
 */
export function renderChartSvg(options: ChartOptions): string {
  const width = options.width ?? 760;
  const height = options.height ?? 420;
  const mode = options.mode ?? 'line';
  const key = legend(
    options.series.map((series, index) => {
      const colour = colourOf(index);
      const dash = dashes[index % dashes.length] ?? '';
      const empty = !series.points.some(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
      return {
        name: `${series.name}${empty ? ' (no data)' : ''}`,
        swatch: (x: number, y: number) =>
          (mode === 'line'
            ? `<line x1="${round(x)}" x2="${round(x + 24)}" y1="${round(y)}" y2="${round(y)}" stroke="${colour}" stroke-width="2"${dash === '' ? '' : ` stroke-dasharray="${dash}"`}/>\n`
            : '') + marker(index, x + 12, y, colour, 3.5),
      };
    }),
    width,
  );
  const margin = { left: 70, right: mode === 'line' ? 170 : 24, top: 52 + key.height, bottom: 50 + captionHeight(options.caption, width) };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;

  const finite = (series: ChartSeries) =>
    series.points
      .map((point, index) => ({ x: point[0], y: point[1], error: series.errors?.[index] ?? 0 }))
      .filter(({ x, y }) => Number.isFinite(x) && Number.isFinite(y));
  const all = options.series.flatMap((series) => finite(series));
  const xs = all.map(({ x }) => x);
  const ys = [
    ...all.flatMap(({ y, error }) => (Number.isFinite(error) && error > 0 ? [y - error, y + error] : [y])),
    ...(options.referenceLines ?? []).map((line) => line.value),
  ];
  const xTicks = niceTicks(xs.length === 0 ? 0 : Math.min(...xs), xs.length === 0 ? 1 : Math.max(...xs));
  const yTicks = niceTicks(ys.length === 0 ? 0 : Math.min(...ys), ys.length === 0 ? 1 : Math.max(...ys));
  const xMin = xTicks[0] ?? 0;
  const xMax = xTicks[xTicks.length - 1] ?? 1;
  const yMin = yTicks[0] ?? 0;
  const yMax = yTicks[yTicks.length - 1] ?? 1;
  const scaleX = (x: number): number => margin.left + ((x - xMin) / (xMax - xMin || 1)) * plotWidth;
  const scaleY = (y: number): number => margin.top + plotHeight - ((y - yMin) / (yMax - yMin || 1)) * plotHeight;

  const parts = header(width, height, options.title);
  for (const tick of yTicks) {
    const y = round(scaleY(tick));
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${margin.left - 6}" y="${y + 4}" text-anchor="end">${formatTick(tick)}</text>`,
    );
  }
  for (const tick of xTicks) {
    const x = round(scaleX(tick));
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${margin.top}" y2="${margin.top + plotHeight}" stroke="#f0f0f0"/>`,
      `<text x="${x}" y="${margin.top + plotHeight + 16}" text-anchor="middle">${formatTick(tick)}</text>`,
    );
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#444"/>`,
    `<text x="${margin.left + plotWidth / 2}" y="${margin.top + plotHeight + 36}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(16 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  );
  for (const line of options.referenceLines ?? []) {
    const y = round(scaleY(line.value));
    parts.push(
      `<line class="reference" x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y}" y2="${y}" stroke="#777" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      `<text x="${margin.left + plotWidth - 4}" y="${y - 4}" font-size="11" fill="#555" text-anchor="end">${escapeXml(line.label)}</text>`,
    );
  }

  const ends: { index: number; y: number; name: string }[] = [];
  options.series.forEach((series, index) => {
    const colour = colourOf(index);
    const points = finite(series).sort((a, b) => a.x - b.x);
    for (const { x, y, error } of points) {
      if (!(Number.isFinite(error) && error > 0)) continue;
      const [px, top, bottom] = [round(scaleX(x)), round(scaleY(y + error)), round(scaleY(y - error))];
      parts.push(
        `<path class="error-bar" d="M${px},${top} L${px},${bottom} M${px - 4},${top} L${px + 4},${top} M${px - 4},${bottom} L${px + 4},${bottom}" stroke="${colour}" stroke-width="1.2" fill="none"/>`,
      );
    }
    if (mode === 'line' && points.length > 1) {
      const path = points.map(({ x, y }, i) => `${i === 0 ? 'M' : 'L'}${round(scaleX(x))},${round(scaleY(y))}`).join(' ');
      const dash = dashes[index % dashes.length] ?? '';
      parts.push(`<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"${dash === '' ? '' : ` stroke-dasharray="${dash}"`}/>`);
      const last = points[points.length - 1];
      if (last !== undefined) ends.push({ index, y: scaleY(last.y), name: series.name });
    }
    if (mode === 'scatter' || points.length <= markerLimit) {
      for (const { x, y } of points) parts.push(marker(index, scaleX(x), scaleY(y), colour, mode === 'scatter' ? 5 : 3.5));
    }
  });
  // End labels beside the last point of each line, pushed apart where lines end close together.
  const placed = spreadLabels(
    ends.map((end) => end.y),
    13,
    margin.top + 4,
    margin.top + plotHeight + 8,
  );
  ends.forEach((end, i) => {
    const y = round(placed[i] ?? end.y);
    const x = margin.left + plotWidth + 6;
    parts.push(
      `<text class="end-label" x="${x}" y="${y + 4}" font-size="11" fill="${colourOf(end.index)}">${escapeXml(clip(end.name, 26))}</text>`,
    );
  });
  parts.push(...key.parts, ...captionLine(options.caption, width, height), '</svg>');
  return `${parts.filter((part) => part !== '').join('\n')}\n`;
}

/** One series of a grouped bar chart: a value per category (null: not measured). */
export interface BarSeries {
  name: string;
  values: ReadonlyArray<number | null>;
  /** Half-width of an error bar per category (e.g. the standard deviation over seeds). */
  errors?: ReadonlyArray<number | null>;
}

/** What {@link barChart} draws. */
export interface BarChartOptions {
  title: string;
  /** The groups, e.g. shapes or tasks: one group of bars per category. */
  categories: readonly string[];
  /** One bar per series in every group, in series order and colour. */
  series: readonly BarSeries[];
  /** Title of the value axis, with its unit, e.g. `training tokens per second (tokens/s)`. */
  valueLabel: string;
  /** Title of the category axis (optional). */
  categoryLabel?: string;
  /** `vertical` (default): bars grow up from the category axis at the bottom; `horizontal`: bars grow right from the left axis. */
  orientation?: 'vertical' | 'horizontal';
  /** Formats the value label printed at the end of each bar (default: 4 significant digits, k/M suffixes). */
  formatValue?: (value: number) => string;
  /** Dashed reference lines across the value axis, e.g. chance. */
  referenceLines?: readonly ReferenceLine[];
  caption?: string;
  width?: number;
  height?: number;
}

/**
 * A grouped bar chart as a standalone SVG document: `categories` along one axis, one bar per
 * series inside each category group, a value label at the end of every bar, error bars where
 * `errors` are given, a legend of the series, the unit in `valueLabel` (the value axis title).
 * The value axis starts at 0 (or below, for negative values). Bars whose value is null or not
 * finite are left out and their slot is marked "n/a".
 *
 * `barChart({ title, categories, series: [{ name, values, errors? }], valueLabel, categoryLabel?,
 * orientation?: 'vertical' | 'horizontal', formatValue?, referenceLines?, caption?, width?, height? }): string`
 */
export function barChart(options: BarChartOptions): string {
  const horizontal = options.orientation === 'horizontal';
  const groups = options.categories.length;
  const seriesCount = Math.max(1, options.series.length);
  const width = options.width ?? (horizontal ? 760 : Math.max(560, 160 + groups * (seriesCount * 24 + 30)));
  const height = options.height ?? (horizontal ? Math.max(260, 140 + groups * (seriesCount * 18 + 16)) : 440);
  const format = options.formatValue ?? formatValueLabel;
  const key = legend(
    options.series.map((series, index) => ({
      name: series.name,
      swatch: (x: number, y: number) => `<rect x="${round(x + 6)}" y="${round(y - 6)}" width="12" height="12" fill="${colourOf(index)}"/>`,
    })),
    width,
  );
  const top = 52 + key.height;
  const margin = horizontal
    ? { left: Math.min(340, 24 + 6.6 * Math.max(4, ...options.categories.map((name) => name.length))), right: 40, top, bottom: 50 + captionHeight(options.caption, width) }
    : { left: 70, right: 30, top, bottom: 64 + captionHeight(options.caption, width) };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;

  const values: number[] = [0];
  options.series.forEach((series) =>
    series.values.forEach((value, index) => {
      if (value === null || !Number.isFinite(value)) return;
      const error = series.errors?.[index] ?? 0;
      values.push(value + (error !== null && Number.isFinite(error) ? Math.abs(error) : 0));
      values.push(value - (error !== null && Number.isFinite(error) ? Math.abs(error) : 0));
    }),
  );
  for (const line of options.referenceLines ?? []) values.push(line.value);
  // Room for the value labels past the longest bar.
  const largest = Math.max(...values);
  const ticks = niceTicks(Math.min(0, ...values), largest + (largest - Math.min(0, ...values)) * 0.12);
  const low = ticks[0] ?? 0;
  const high = ticks[ticks.length - 1] ?? 1;
  const length = horizontal ? plotWidth : plotHeight;
  /** Distance along the value axis from its start, in pixels. */
  const along = (value: number): number => ((value - low) / (high - low || 1)) * length;
  const band = (horizontal ? plotHeight : plotWidth) / Math.max(1, groups);
  const barThickness = Math.min(28, (band * 0.8) / seriesCount);
  const groupStart = (group: number): number => group * band + (band - barThickness * seriesCount) / 2;
  // Converts (position across the category axis, distance along the value axis) to SVG coordinates.
  const at = (across: number, value: number): [number, number] =>
    horizontal ? [margin.left + along(value), margin.top + across] : [margin.left + across, margin.top + plotHeight - along(value)];

  const parts = header(width, height, options.title);
  for (const tick of ticks) {
    const [x1, y1] = at(0, tick);
    const [x2, y2] = at(horizontal ? plotHeight : plotWidth, tick);
    parts.push(`<line x1="${round(x1)}" x2="${round(x2)}" y1="${round(y1)}" y2="${round(y2)}" stroke="#e5e5e5"/>`);
    parts.push(
      horizontal
        ? `<text x="${round(x1)}" y="${margin.top + plotHeight + 16}" text-anchor="middle">${formatTick(tick)}</text>`
        : `<text x="${margin.left - 6}" y="${round(y1) + 4}" text-anchor="end">${formatTick(tick)}</text>`,
    );
  }
  const [zeroX1, zeroY1] = at(0, Math.max(low, 0));
  const [zeroX2, zeroY2] = at(horizontal ? plotHeight : plotWidth, Math.max(low, 0));
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#444"/>`,
    `<line x1="${round(zeroX1)}" x2="${round(zeroX2)}" y1="${round(zeroY1)}" y2="${round(zeroY2)}" stroke="#444"/>`,
  );
  const valueTitle = escapeXml(options.valueLabel);
  const categoryTitle = options.categoryLabel === undefined ? '' : escapeXml(options.categoryLabel);
  if (horizontal) {
    parts.push(`<text x="${margin.left + plotWidth / 2}" y="${margin.top + plotHeight + 36}" text-anchor="middle">${valueTitle}</text>`);
    if (categoryTitle !== '') parts.push(`<text x="12" y="${margin.top - 8}" font-size="11" fill="#555">${categoryTitle}</text>`);
  } else {
    parts.push(`<text transform="translate(16 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${valueTitle}</text>`);
    if (categoryTitle !== '') {
      parts.push(`<text x="${margin.left + plotWidth / 2}" y="${margin.top + plotHeight + 40}" text-anchor="middle">${categoryTitle}</text>`);
    }
  }
  options.categories.forEach((category, group) => {
    const middle = group * band + band / 2;
    parts.push(
      horizontal
        ? `<text x="${margin.left - 8}" y="${round(margin.top + middle + 4)}" text-anchor="end">${escapeXml(category)}</text>`
        : `<text x="${round(margin.left + middle)}" y="${margin.top + plotHeight + 18}" text-anchor="middle">${escapeXml(category)}</text>`,
    );
  });
  const base = Math.max(low, 0);
  options.series.forEach((series, index) => {
    const colour = colourOf(index);
    options.categories.forEach((_, group) => {
      const value = series.values[group];
      const across = groupStart(group) + index * barThickness;
      const centre = across + barThickness / 2;
      if (value === null || value === undefined || !Number.isFinite(value)) {
        const [x, y] = at(centre, base);
        parts.push(
          horizontal
            ? `<text x="${round(x + 4)}" y="${round(y + 4)}" font-size="10" fill="#777">n/a</text>`
            : `<text x="${round(x)}" y="${round(y - 4)}" font-size="10" fill="#777" text-anchor="middle">n/a</text>`,
        );
        return;
      }
      const [x0, y0] = at(across, Math.min(base, value));
      const [x1, y1] = at(across + barThickness, Math.max(base, value));
      const [left, right] = [Math.min(x0, x1), Math.max(x0, x1)];
      const [upper, lower] = [Math.min(y0, y1), Math.max(y0, y1)];
      parts.push(
        `<rect class="bar" x="${round(left)}" y="${round(upper)}" width="${round(right - left)}" height="${round(lower - upper)}" fill="${colour}"><title>${escapeXml(`${series.name}, ${options.categories[group] ?? ''}: ${format(value)}`)}</title></rect>`,
      );
      const error = series.errors?.[group];
      let end = value;
      if (error !== null && error !== undefined && Number.isFinite(error) && error > 0) {
        const [ax, ay] = at(centre, value - error);
        const [bx, by] = at(centre, value + error);
        const cap = Math.min(5, barThickness / 3);
        parts.push(
          horizontal
            ? `<path class="error-bar" d="M${round(ax)},${round(ay)} L${round(bx)},${round(by)} M${round(ax)},${round(ay - cap)} L${round(ax)},${round(ay + cap)} M${round(bx)},${round(by - cap)} L${round(bx)},${round(by + cap)}" stroke="#222" stroke-width="1.2" fill="none"/>`
            : `<path class="error-bar" d="M${round(ax)},${round(ay)} L${round(bx)},${round(by)} M${round(ax - cap)},${round(ay)} L${round(ax + cap)},${round(ay)} M${round(bx - cap)},${round(by)} L${round(bx + cap)},${round(by)}" stroke="#222" stroke-width="1.2" fill="none"/>`,
        );
        end = value >= 0 ? value + error : value - error;
      }
      const [lx, ly] = at(centre, end);
      parts.push(
        horizontal
          ? `<text class="value-label" x="${round(lx + (value >= 0 ? 4 : -4))}" y="${round(ly + 4)}" font-size="10"${value >= 0 ? '' : ' text-anchor="end"'}>${escapeXml(format(value))}</text>`
          : 5.6 * format(value).length > barThickness + 4
            ? // Too wide for the bar: written upwards from the bar's end.
              `<text class="value-label" transform="translate(${round(lx + 3.5)} ${round(ly + (value >= 0 ? -4 : 4))}) rotate(-90)" font-size="10" text-anchor="${value >= 0 ? 'start' : 'end'}">${escapeXml(format(value))}</text>`
            : `<text class="value-label" x="${round(lx)}" y="${round(ly + (value >= 0 ? -4 : 12))}" font-size="10" text-anchor="middle">${escapeXml(format(value))}</text>`,
      );
    });
  });
  for (const line of options.referenceLines ?? []) {
    const [x1, y1] = at(0, line.value);
    const [x2, y2] = at(horizontal ? plotHeight : plotWidth, line.value);
    parts.push(
      `<line class="reference" x1="${round(x1)}" x2="${round(x2)}" y1="${round(y1)}" y2="${round(y2)}" stroke="#777" stroke-width="1.5" stroke-dasharray="6 4"/>`,
      horizontal
        ? `<text x="${round(x1) + 4}" y="${margin.top - 4}" font-size="11" fill="#555">${escapeXml(line.label)}</text>`
        : `<text x="${round(x2) - 4}" y="${round(y2) - 4}" font-size="11" fill="#555" text-anchor="end">${escapeXml(line.label)}</text>`,
    );
  }
  parts.push(...key.parts, ...captionLine(options.caption, width, height), '</svg>');
  return `${parts.join('\n')}\n`;
}

/** About five round tick values covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (min === max) {
    const pad = Math.abs(min) > 0 ? Math.abs(min) * 0.1 : 1;
    min -= pad;
    max += pad;
  }
  const rough = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 2.5, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= rough) ??
    10 * magnitude) as number;
  const start = Math.floor(min / step) * step;
  const end = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let value = start; value <= end + step / 2; value += step) ticks.push(Number(value.toPrecision(12)));
  return ticks;
}

function formatTick(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e6 && magnitude < 1e9) return `${Number((value / 1e6).toPrecision(3))}M`;
  if (magnitude >= 1e9 || magnitude < 1e-3) return value.toExponential(1);
  if (magnitude >= 1000) return `${Number((value / 1000).toPrecision(3))}k`;
  return String(Number(value.toPrecision(3)));
}

/** A bar's value label: 4 significant digits, k and M for thousands and millions. */
function formatValueLabel(value: number): string {
  const magnitude = Math.abs(value);
  if (magnitude >= 1e6 && magnitude < 1e9) return `${Number((value / 1e6).toPrecision(4))}M`;
  if (magnitude >= 1e4 && magnitude < 1e6) return `${Number((value / 1000).toPrecision(4))}k`;
  if (magnitude !== 0 && (magnitude >= 1e9 || magnitude < 1e-3)) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
}

function clip(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, Math.max(1, length - 1))}…`;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Escapes text for SVG/XML content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
