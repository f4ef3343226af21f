// A live loss curve: training loss (nats per token) against step, drawn as an SVG polyline.

/** Renders `losses` (one per step) as an SVG of `width` x `height` pixels with axis labels. */
export function renderLossChart(losses: readonly number[], width = 420, height = 180): string {
  const left = 44;
  const bottom = 22;
  const plotWidth = width - left - 10;
  const plotHeight = height - bottom - 10;
  if (losses.length === 0) return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><text x="${left}" y="${height / 2}" font-size="12">no steps yet</text></svg>`;
  const top = Math.max(...losses);
  const low = Math.min(...losses);
  const span = top - low || 1;
  const x = (step: number) => left + (losses.length === 1 ? plotWidth : (step / (losses.length - 1)) * plotWidth);
  const y = (loss: number) => 10 + ((top - loss) / span) * plotHeight;
  const points = losses.map((loss, step) => `${x(step).toFixed(1)},${y(loss).toFixed(1)}`).join(' ');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">
<line x1="${left}" y1="10" x2="${left}" y2="${10 + plotHeight}" stroke="#888"/>
<line x1="${left}" y1="${10 + plotHeight}" x2="${left + plotWidth}" y2="${10 + plotHeight}" stroke="#888"/>
<text x="4" y="14">${top.toFixed(2)}</text><text x="4" y="${10 + plotHeight}">${low.toFixed(2)}</text>
<text x="${left}" y="${height - 4}">step 1</text><text x="${left + plotWidth - 50}" y="${height - 4}">step ${losses.length}</text>
<polyline fill="none" stroke="#d55e00" stroke-width="2" points="${points}"/>
</svg>`;
}
