// The host-side bound on query-key distances the model hands to attention (AttentionInput.maxDistance) from a memory view.
import type { MemoryView } from '@engram/memory';
import { ModelInputError } from './errors.js';

/**
 * The largest distance `t_i - t_j` from a query of the current segment to any key of `[memory; segment]`, from
 * host numbers only: the newest query is `tokensSeen + segmentLength - 1`, the oldest key the view's
 * `oldestPosition` (or the segment start while the view holds no memory). Undefined when the view holds memory but
 * does not say its oldest position: attention then gets no bound.
 * @param view what the policy's `read()` returned for the layer (`positions` int32 `[batch, slots]` when present)
 * @throws ModelInputError when `oldestPosition` is not an integer or is not before the current segment
 */
export function keyDistanceBound(
  view: MemoryView,
  tokensSeen: number,
  segmentLength: number,
  where: { kind: string; layer: number },
): number | undefined {
  const newestQuery = tokensSeen + segmentLength - 1;
  const slots = view.hidden ? view.hidden.shape[1] : 0;
  if (slots === 0) return segmentLength - 1;
  const oldest = view.oldestPosition;
  if (oldest === undefined) return undefined;
  if (typeof oldest !== 'number' || !Number.isSafeInteger(oldest) || oldest > tokensSeen - 1) {
    throw new ModelInputError(
      `MemoryTransformer: policy "${where.kind}" read() for layer ${where.layer} returned oldestPosition ${JSON.stringify(oldest)}; ` +
        `it must be an integer no larger than the smallest memory position, so at most ${tokensSeen - 1} (memory precedes the segment starting at tokensSeen = ${tokensSeen}). ` +
        'Return the smallest position your memory holds, or leave oldestPosition out when it is not known on the host.',
    );
  }
  return newestQuery - oldest;
}
