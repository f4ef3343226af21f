// The `inspect` picture: per layer and per step, which positions of a text sit in memory, compressed memory, or have expired (SVG).

/** What one layer holds of one position of the text after a step. */
export const slotStatuses = ['future', 'memory', 'buffered', 'compressed', 'expired', 'forgotten'] as const;
export type SlotStatus = (typeof slotStatuses)[number];

/** Numeric codes used in {@link MemoryTimeline} rows (index into {@link slotStatuses}). */
export const SlotCode = { future: 0, memory: 1, buffered: 2, compressed: 3, expired: 4, forgotten: 5 } as const;

/** Colours and legend text of each status. */
const statusStyle: Record<SlotStatus, { color: string; label: string }> = {
  future: { color: '#ffffff', label: 'not read yet' },
  memory: { color: '#0072b2', label: 'in memory' },
  buffered: { color: '#56b4e9', label: 'evicted, waiting for a full block' },
  compressed: { color: '#e69f00', label: 'summarised in compressed memory' },
  expired: { color: '#cc79a7', label: 'expired (stored, masked for later queries)' },
  forgotten: { color: '#d9d9d9', label: 'forgotten (dropped from memory)' },
};

/** Everything the picture shows, computed from the policy's real states while the model reads a text. */
export interface MemoryTimeline {
  /** Heading, e.g. `expire-span model over notes.txt`. */
  title: string;
  /** Tokens of the text (positions 0 .. tokens - 1). */
  tokens: number;
  /** Tokens read per step. */
  segmentLength: number;
  /**
   * Per layer, per step: one status code per position (`Uint8Array` of length `tokens`, codes of
   * {@link SlotCode}); the last row is the state at the end.
   */
  layers: Uint8Array[][];
  /** Optional characters of the text, shown under the last layer when they fit. */
  characters?: string[];
  /** Extra lines printed under the title (e.g. memory slots per layer at the end). */
  subtitle?: string[];
}

/** Counts of each status in the final row of every layer. */
export function finalCounts(timeline: MemoryTimeline): Record<SlotStatus, number>[] {
  return timeline.layers.map((rows) => {
    const counts: Record<SlotStatus, number> = { future: 0, memory: 0, buffered: 0, compressed: 0, expired: 0, forgotten: 0 };
    const last = rows[rows.length - 1];
    if (last) for (const code of last) counts[slotStatuses[code] ?? 'future'] += 1;
    return counts;
  });
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Renders the timeline as an SVG: one block per layer, one row per step (time runs downwards), one
 * column per position; runs of equal status are merged into one rectangle so long texts stay small.
 */
export function renderMemoryTimelineSvg(timeline: MemoryTimeline): string {
  const left = 90;
  const right = 20;
  const plotWidth = Math.max(240, Math.min(1400, timeline.tokens * 6));
  const cell = plotWidth / Math.max(1, timeline.tokens);
  const steps = timeline.layers[0]?.length ?? 0;
  const rowHeight = Math.max(3, Math.min(14, Math.floor(240 / Math.max(1, steps))));
  const layerGap = 28;
  const subtitles = timeline.subtitle ?? [];
  const top = 44 + subtitles.length * 16 + 30;
  const showCharacters = timeline.characters !== undefined && cell >= 6;
  const layerHeight = steps * rowHeight;
  const height = top + timeline.layers.length * (layerHeight + layerGap) + (showCharacters ? 20 : 0) + 30;
  const width = Math.max(left + plotWidth + right, 1280);

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="24" font-size="15" font-weight="bold">${escapeXml(timeline.title)}</text>`,
  ];
  subtitles.forEach((line, index) => {
    parts.push(`<text x="10" y="${44 + index * 16}">${escapeXml(line)}</text>`);
  });
  const legendY = 44 + subtitles.length * 16 + 6;
  let legendX = 10;
  for (const status of slotStatuses) {
    const style = statusStyle[status];
    parts.push(
      `<rect x="${legendX}" y="${legendY}" width="12" height="12" fill="${style.color}" stroke="#888"/>`,
      `<text x="${legendX + 16}" y="${legendY + 10}">${escapeXml(style.label)}</text>`,
    );
    legendX += 30 + style.label.length * 7.2;
  }

  const x = (position: number): number => Math.round((left + position * cell) * 100) / 100;
  timeline.layers.forEach((rows, layer) => {
    const y0 = top + layer * (layerHeight + layerGap);
    parts.push(
      `<text x="10" y="${y0 + Math.min(layerHeight, 14) - 2}" font-weight="bold">layer ${layer}</text>`,
      `<text x="10" y="${y0 + layerHeight}" fill="#666" font-size="10">step ${steps} (end)</text>`,
    );
    rows.forEach((row, step) => {
      const y = y0 + step * rowHeight;
      let start = 0;
      for (let position = 1; position <= row.length; position++) {
        if (position < row.length && row[position] === row[start]) continue;
        const status = slotStatuses[row[start] ?? 0] ?? 'future';
        if (status !== 'future') {
          parts.push(
            `<rect x="${x(start)}" y="${y}" width="${Math.round((position - start) * cell * 100) / 100}" height="${rowHeight}" fill="${statusStyle[status].color}"/>`,
          );
        }
        start = position;
      }
    });
    parts.push(`<rect x="${left}" y="${y0}" width="${plotWidth}" height="${layerHeight}" fill="none" stroke="#444"/>`);
    for (let boundary = timeline.segmentLength; boundary < timeline.tokens; boundary += timeline.segmentLength) {
      parts.push(
        `<line x1="${x(boundary)}" x2="${x(boundary)}" y1="${y0}" y2="${y0 + layerHeight}" stroke="#ffffff" stroke-opacity="0.6" stroke-width="0.5"/>`,
      );
    }
  });

  const axisY = top + timeline.layers.length * (layerHeight + layerGap) - layerGap + 14;
  if (showCharacters && timeline.characters) {
    timeline.characters.forEach((character, position) => {
      const shown = character === ' ' ? '\u00b7' : character === '\n' ? '\u21b5' : character;
      parts.push(
        `<text x="${x(position + 0.5)}" y="${axisY}" text-anchor="middle" font-family="monospace" font-size="10">${escapeXml(shown)}</text>`,
      );
    });
  }
  const tickStep = niceStep(timeline.tokens);
  for (let position = 0; position <= timeline.tokens; position += tickStep) {
    parts.push(
      `<text x="${x(position)}" y="${axisY + (showCharacters ? 18 : 0)}" text-anchor="middle" fill="#444">${position}</text>`,
    );
  }
  parts.push(
    `<text x="${left + plotWidth / 2}" y="${height - 6}" text-anchor="middle">position in the text (tokens); rows: steps, time runs down</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}

function niceStep(tokens: number): number {
  const rough = Math.max(1, tokens / 8);
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((factor) => factor * magnitude).find((step) => step >= rough) ?? 10 * magnitude;
}
