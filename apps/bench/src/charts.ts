// Dependency-free SVG charts for the bench reports: line charts (learning curves, memory over time) and scatter plots (bpc against memory).

/** One named series of (x, y) points. */
export interface ChartSeries {
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
}

/** What to draw. */
export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  /** `line` joins points in x order; `scatter` draws labelled dots; `bar` groups bars by category (default `line`). */
  mode?: 'line' | 'scatter' | 'bar';
  /** `bar` only: the category names; a point `[i, y]` is the bar of category i in its series' colour. */
  categories?: readonly string[];
  width?: number;
  height?: number;
}

/** Colour-blind-safe palette (Okabe-Ito), cycled over series. */
const palette = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

/** Renders a chart as a standalone SVG document. Series with no finite points are listed in the legend only. */
export function renderChartSvg(options: ChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 400;
  const mode = options.mode ?? 'line';
  if (mode === 'bar') return renderBarChartSvg(options, width);
  const margin = { left: 70, right: 180, top: 40, bottom: 50 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;

  const finitePoints = options.series.flatMap((series) =>
    series.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)),
  );
  const xs = finitePoints.map(([x]) => x);
  const ys = finitePoints.map(([, y]) => y);
  const xTicks = niceTicks(xs.length === 0 ? 0 : Math.min(...xs), xs.length === 0 ? 1 : Math.max(...xs));
  const yTicks = niceTicks(ys.length === 0 ? 0 : Math.min(...ys), ys.length === 0 ? 1 : Math.max(...ys));
  const xMin = xTicks[0] ?? 0;
  const xMax = xTicks[xTicks.length - 1] ?? 1;
  const yMin = yTicks[0] ?? 0;
  const yMax = yTicks[yTicks.length - 1] ?? 1;
  const scaleX = (x: number): number => margin.left + ((x - xMin) / (xMax - xMin || 1)) * plotWidth;
  const scaleY = (y: number): number => margin.top + plotHeight - ((y - yMin) / (yMax - yMin || 1)) * plotHeight;

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${margin.left}" y="22" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
  );
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
    `<text x="${margin.left + plotWidth / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(16 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
  );

  options.series.forEach((series, index) => {
    const color = palette[index % palette.length] ?? '#000000';
    const points = series.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (mode === 'line' && points.length > 1) {
      const sorted = [...points].sort((a, b) => a[0] - b[0]);
      const path = sorted.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${round(scaleX(x))},${round(scaleY(y))}`).join(' ');
      parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    }
    if (mode === 'scatter' || points.length === 1) {
      for (const [x, y] of points) {
        parts.push(`<circle cx="${round(scaleX(x))}" cy="${round(scaleY(y))}" r="5" fill="${color}"/>`);
      }
    }
    const legendY = margin.top + 8 + index * 18;
    const legendX = margin.left + plotWidth + 14;
    parts.push(
      `<rect x="${legendX}" y="${legendY - 8}" width="12" height="12" fill="${color}"/>`,
      `<text x="${legendX + 18}" y="${legendY + 2}">${escapeXml(series.name)}${points.length === 0 ? ' (no data)' : ''}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/**
 * Grouped vertical bars: one group per category, one bar per series, value labels on the bars, y from 0. The
 * height grows with nothing: long category names are drawn rotated under the axis.
 */
function renderBarChartSvg(options: ChartOptions, width: number): string {
  const categories = options.categories ?? [];
  const height = options.height ?? 460;
  const margin = { left: 70, right: 160, top: 40, bottom: 130 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const values = options.series.flatMap((series) => series.points.map(([, y]) => y).filter(Number.isFinite));
  const ticks = niceTicks(0, values.length === 0 ? 1 : Math.max(...values));
  const yMax = ticks[ticks.length - 1] ?? 1;
  const scaleY = (y: number): number => margin.top + plotHeight - (y / (yMax || 1)) * plotHeight;
  const groupWidth = plotWidth / Math.max(1, categories.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, options.series.length);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${margin.left}" y="22" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];
  for (const tick of ticks) {
    const y = round(scaleY(tick));
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotWidth}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${margin.left - 6}" y="${y + 4}" text-anchor="end">${formatTick(tick)}</text>`,
    );
  }
  categories.forEach((category, index) => {
    const x = round(margin.left + groupWidth * (index + 0.5));
    const y = margin.top + plotHeight + 12;
    parts.push(`<text transform="translate(${x} ${y}) rotate(-35)" text-anchor="end">${escapeXml(category)}</text>`);
  });
  options.series.forEach((series, seriesIndex) => {
    const color = palette[seriesIndex % palette.length] ?? '#000000';
    for (const [category, value] of series.points) {
      if (!Number.isFinite(value) || category < 0 || category >= categories.length) continue;
      const x = round(margin.left + groupWidth * category + groupWidth * 0.1 + barWidth * seriesIndex);
      const top = round(scaleY(value));
      parts.push(
        `<rect x="${x}" y="${top}" width="${round(barWidth)}" height="${round(margin.top + plotHeight - top)}" fill="${color}"/>`,
        `<text x="${round(x + barWidth / 2)}" y="${top - 4}" text-anchor="middle" font-size="10">${formatTick(value)}</text>`,
      );
    }
    const legendY = margin.top + 8 + seriesIndex * 18;
    const legendX = margin.left + plotWidth + 14;
    parts.push(
      `<rect x="${legendX}" y="${legendY - 8}" width="12" height="12" fill="${color}"/>`,
      `<text x="${legendX + 18}" y="${legendY + 2}">${escapeXml(series.name)}</text>`,
    );
  });
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#444"/>`,
    `<text x="${margin.left + plotWidth / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`,
    `<text transform="translate(16 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel)}</text>`,
    '</svg>',
  );
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
  if (magnitude >= 1e6 || magnitude < 1e-3) return value.toExponential(1);
  if (magnitude >= 1000) return `${Number((value / 1000).toPrecision(3))}k`;
  return String(Number(value.toPrecision(4)));
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Escapes text for SVG/XML content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
