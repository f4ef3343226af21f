// The fused tensor ops of @engram/kernels (re-exported from the package root).
export { relativeAttentionCore, type RelativeAttentionCoreOptions } from './attention-core.js';
export { blockConv, causalDilatedConv } from './convolution.js';
export { sparseSoftmaxCrossEntropy } from './cross-entropy.js';
export { clipByGlobalNorm, clipFactor, globalGradientNorm, stopGradient, type ClippedGradients } from './gradient.js';
export { feedForwardRelu } from './feed-forward.js';
export { headApply, headScores } from './head-matmul.js';
export { layerNorm } from './layer-norm.js';
export { maskedSoftmax, type MaskedSoftmaxOptions } from './masked-softmax.js';
export { batchMatMul, groupedMatMul, matMul } from './matmul.js';
export { relShift } from './rel-shift.js';
export {
  gatherRelativeScores,
  positionDistances,
  relativeDistanceIndex,
  type GatherRelativeScoresOptions,
  type RelativeDistanceIndex,
} from './relative-gather.js';
export { sinusoidEmbedding } from './sinusoid.js';
export { spanRampMask, spanRampPenalty } from './span-mask.js';
