// The live memory picture: one status row per layer after every committed segment, drawn with the same SVG as `engram inspect`.
import { createMemoryRowReader, renderMemoryTimelineSvg, type MemoryTimeline } from '@engram/cli/browser';
import type { MemoryState } from '@engram/memory';
import type { MemoryTransformer } from '@engram/model';

/** Collects rows from memory states as a stream grows and renders them into `element`. */
export class LiveMemoryView {
  private readonly readRows: (state: MemoryState, tokens: number) => Uint8Array[];
  private readonly states: MemoryTimeline['layers'];
  private commits = 0;

  constructor(
    private readonly element: HTMLElement,
    private readonly model: MemoryTransformer,
    private readonly title: string,
  ) {
    this.readRows = createMemoryRowReader(model);
    this.states = Array.from({ length: model.config.numLayers }, () => []);
  }

  /**
   * Records the state after a commit, for a text of `tokens` positions so far. Earlier rows are
   * widened to the new length (positions they had not read yet stay `future`).
   */
  record(state: MemoryState, tokens: number, characters?: string[]): void {
    this.readRows(state, tokens).forEach((row, layer) => this.states[layer]?.push(row));
    this.commits += 1;
    const layers = this.states.map((rows) =>
      rows.map((row) => {
        if (row.length === tokens) return row;
        const wide = new Uint8Array(tokens);
        wide.set(row.subarray(0, Math.min(row.length, tokens)));
        return wide;
      }),
    );
    const timeline: MemoryTimeline = {
      title: this.title,
      tokens,
      segmentLength: this.model.config.segmentLength,
      layers,
      subtitle: [`${this.model.policy.kind} memory, ${this.model.config.numLayers} layers, ${this.commits} committed segments over ${tokens} tokens`],
      ...(characters === undefined ? {} : { characters: characters.slice(0, tokens) }),
    };
    this.element.innerHTML = renderMemoryTimelineSvg(timeline);
  }

  /** Replaces the picture with a whole timeline (e.g. recorded over a probe text while training). */
  static show(element: HTMLElement, timeline: MemoryTimeline): void {
    element.innerHTML = renderMemoryTimelineSvg(timeline);
  }
}
