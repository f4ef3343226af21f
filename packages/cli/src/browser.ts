// @engram/cli/browser: what of the engram command a web page can use (no node: import): policies from saved configs and the inspect picture.
export { policyFromSavedConfig } from './build.js';
export { createMemoryRowReader, recordMemoryTimeline } from './inspect/timeline.js';
export type { RecordOptions } from './inspect/timeline.js';
export { finalCounts, renderMemoryTimelineSvg, SlotCode, slotStatuses } from './inspect/picture.js';
export type { MemoryTimeline, SlotStatus } from './inspect/picture.js';
