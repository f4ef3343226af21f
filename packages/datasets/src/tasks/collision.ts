// The object-collision task (SPEC 8, after the Expire-Span paper's description; re-implemented, not ported): particles random-walk on a small grid, change colour when they collide, and questions ask in which quadrant two colours last collided.
import { InvalidArgumentError } from '../errors.js';
import { defineLongRangeTask, type LongRangeTask } from './types.js';

/** Parameters of object-collision. */
export interface ObjectCollisionParameters {
  /** G: the grid is G x G cells; must be even so it splits into four quadrants (default 4). */
  gridSize?: number;
  /** N: particles (default 3). */
  particles?: number;
  /** C: colours; at least 2N so colliding particles can always take unused colours (default 6). */
  colours?: number;
  /** S: simulation steps per episode (default 64). */
  steps?: number;
  /** A question is only asked about a collision at least this many steps old (default 12, i.e. 12 * (2N + 3) = 108 tokens back with 3 particles). */
  minimumAnswerAge?: number;
  /** Chance of asking a question at a step when one is possible (default 0.2; lower leaves more collisions waiting, so answers lie further back). */
  questionProbability?: number;
}

const DEFAULTS: Required<ObjectCollisionParameters> = {
  gridSize: 4,
  particles: 3,
  colours: 6,
  steps: 64,
  minimumAnswerAge: 12,
  questionProbability: 0.2,
};

const MOVES: readonly (readonly [number, number])[] = [
  [-1, 0],
  [1, 0],
  [0, -1],
  [0, 1],
];

/** Quadrant of a cell: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right. */
export function quadrantOf(row: number, column: number, gridSize: number): number {
  const half = gridSize / 2;
  return (row >= half ? 2 : 0) + (column >= half ? 1 : 0);
}

/**
 * Object collision. Each step: every particle moves one cell up, down, left or right
 * (uniformly among the moves that stay on the grid); the step's observation lists every
 * particle (in a fixed order) as `colour:c cell:r,k` with the colour it had when it arrived;
 * particles sharing a cell have collided, and each such pair of colours records the cell's
 * quadrant; then every colliding particle takes a new colour unused by any particle (so the
 * same pair rarely meets again and old collisions stay the only evidence). Finally a
 * question slot: `ask:a ask:b quadrant:q` asks where colours a < b last collided, or
 * `ask:none ask:none answer:none` when no question is asked. A question is asked with
 * probability `questionProbability` when some recorded collision is at least
 * `minimumAnswerAge` steps old and was not asked about yet; it picks one uniformly, and
 * each collision is asked about at most once (so an answer cannot be copied from a recent
 * question). Only the `quadrant:q` answers are labelled; the answer lies at least
 * `minimumAnswerAge * (2N + 3)` tokens back. With the defaults (4x4 grid, 3 particles, 6
 * colours, 64 steps, E = 577) an episode has about 12 collisions and 5.6 questions, and
 * answer ages run from 12 steps (108 tokens) with a median of 16 and a 90th percentile of
 * 27 steps (measured over 200 seeds).
 *
 * Episode: `<start>` then S steps of 2N + 3 tokens. Ids: `<start>`, `cell:r,k` (G*G),
 * `colour:c` (C), `ask:c` (C), `ask:none`, `quadrant:0..3`, `answer:none`.
 */
export function createObjectCollisionTask(parameters: ObjectCollisionParameters = {}): LongRangeTask<ObjectCollisionParameters> {
  const resolved = { ...DEFAULTS, ...parameters };
  const { gridSize, particles, colours, steps, minimumAnswerAge, questionProbability } = resolved;
  if (!Number.isSafeInteger(gridSize) || gridSize < 2 || gridSize % 2 !== 0) {
    throw new InvalidArgumentError('gridSize', 'an even integer >= 2', gridSize);
  }
  if (!Number.isSafeInteger(particles) || particles < 2) throw new InvalidArgumentError('particles', 'an integer >= 2', particles);
  if (!Number.isSafeInteger(colours) || colours < 2 * particles) {
    throw new InvalidArgumentError('colours', `an integer >= 2 * particles = ${2 * particles}`, colours, 'Colliding particles need unused colours to change into.');
  }
  if (!Number.isSafeInteger(steps) || steps < 1) throw new InvalidArgumentError('steps', 'a positive integer', steps);
  if (!Number.isSafeInteger(minimumAnswerAge) || minimumAnswerAge < 0) {
    throw new InvalidArgumentError('minimumAnswerAge', 'a non-negative integer', minimumAnswerAge);
  }
  if (!(questionProbability > 0 && questionProbability <= 1)) {
    throw new InvalidArgumentError('questionProbability', 'a number in (0, 1]', questionProbability);
  }

  const names = ['<start>'];
  const cellBase = names.length;
  for (let row = 0; row < gridSize; row += 1) for (let column = 0; column < gridSize; column += 1) names.push(`cell:${row},${column}`);
  const colourBase = names.length;
  for (let colour = 0; colour < colours; colour += 1) names.push(`colour:${colour}`);
  const askBase = names.length;
  for (let colour = 0; colour < colours; colour += 1) names.push(`ask:${colour}`);
  const askNone = names.length;
  names.push('ask:none');
  const quadrantBase = names.length;
  for (let quadrant = 0; quadrant < 4; quadrant += 1) names.push(`quadrant:${quadrant}`);
  const answerNone = names.length;
  names.push('answer:none');
  const tokensPerStep = 2 * particles + 3;
  const episodeLength = 1 + steps * tokensPerStep;

  return defineLongRangeTask({
    name: 'object-collision',
    parameters: resolved,
    tokenNames: names,
    episodeLength,
    sample(random, episode) {
      const rows: number[] = [];
      const columns: number[] = [];
      const colourOf: number[] = [];
      const unused = Array.from({ length: colours }, (_, colour) => colour);
      for (let particle = 0; particle < particles; particle += 1) {
        rows.push(random.nextInt(gridSize));
        columns.push(random.nextInt(gridSize));
        const chosen = random.nextInt(unused.length);
        colourOf.push(unused[chosen] as number);
        unused.splice(chosen, 1);
      }
      // Last collision of each colour pair (key a*C+b, a<b): step, quadrant, whether asked.
      const collisions = new Map<number, { step: number; quadrant: number; asked: boolean }>();

      for (let step = 0; step < steps; step += 1) {
        for (let particle = 0; particle < particles; particle += 1) {
          const allowed = MOVES.filter(([rowChange, columnChange]) => {
            const row = (rows[particle] as number) + rowChange;
            const column = (columns[particle] as number) + columnChange;
            return row >= 0 && row < gridSize && column >= 0 && column < gridSize;
          });
          const [rowChange, columnChange] = random.pick(allowed);
          rows[particle] = (rows[particle] as number) + rowChange;
          columns[particle] = (columns[particle] as number) + columnChange;
          episode.write(colourBase + (colourOf[particle] as number), cellBase + (rows[particle] as number) * gridSize + (columns[particle] as number));
        }
        const colliding = new Set<number>();
        for (let first = 0; first < particles; first += 1) {
          for (let second = first + 1; second < particles; second += 1) {
            if (rows[first] !== rows[second] || columns[first] !== columns[second]) continue;
            const a = Math.min(colourOf[first] as number, colourOf[second] as number);
            const b = Math.max(colourOf[first] as number, colourOf[second] as number);
            collisions.set(a * colours + b, { step, quadrant: quadrantOf(rows[first] as number, columns[first] as number, gridSize), asked: false });
            colliding.add(first);
            colliding.add(second);
          }
        }
        // Colliding particles release their colours and take fresh ones not held by anyone now.
        const held = new Set(colourOf);
        for (const particle of [...colliding].sort((left, right) => left - right)) {
          const free = Array.from({ length: colours }, (_, colour) => colour).filter((colour) => !held.has(colour));
          const next = random.pick(free);
          held.delete(colourOf[particle] as number);
          held.add(next);
          colourOf[particle] = next;
        }
        const eligible = [...collisions.entries()]
          .filter(([, record]) => !record.asked && step - record.step >= minimumAnswerAge)
          .sort((left, right) => left[0] - right[0]);
        if (eligible.length > 0 && random.nextFloat() < questionProbability) {
          const [key, record] = random.pick(eligible);
          record.asked = true;
          episode.write(askBase + Math.floor(key / colours), askBase + (key % colours));
          episode.writeLabelled(quadrantBase + record.quadrant);
        } else {
          episode.write(askNone, askNone, answerNone);
        }
      }
    },
    layout() {
      const observation = Array.from({ length: particles }, (_, particle) => `colour(p${particle}) cell(p${particle})`).join(' ');
      return [
        `object-collision on a ${gridSize}x${gridSize} grid, ${particles} particles, ${colours} colours, E = ${episodeLength} tokens:`,
        `  <start> then ${steps} steps of ${tokensPerStep} tokens: ${observation} | ask:a ask:b quadrant:q (labelled) or ask:none ask:none answer:none`,
        `  quadrants: 0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right; answers are >= ${minimumAnswerAge} steps (${minimumAnswerAge * tokensPerStep} tokens) old`,
      ];
    },
  });
}
