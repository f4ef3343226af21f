// Conv2DBackpropFilter for the wasm backend (weight gradient of conv1d/conv2d), a direct loop in JS over heap memory.
import * as tf from '@tensorflow/tfjs';
import { asWasmBackend } from './wasm-backend.js';

/**
 * `dW[r, c, i, o] = sum over batch and output positions of x[b, yr*sh + r - top, yc*sw + c - left, i] * dy[b, yr, yc, o]`
 * (NHWC; NCHW indexes accordingly). Dilations are 1: tfjs's conv2d gradient rejects dilated filters anyway.
 * Engram's own convolutions (blockConv, causalDilatedConv) are matMuls and never need this kernel; it is registered
 * so that plain tf.conv1d / tf.conv2d layers also train on wasm.
 */
export const conv2DBackpropFilterKernel: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const wasm = asWasmBackend(backend, tf.Conv2DBackpropFilter);
  const x = inputs.x as tf.TensorInfo;
  const dy = inputs.dy as tf.TensorInfo;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const channelsLast = info.dataFormat === 'channelsLast';
  const output = wasm.makeOutput([filterHeight, filterWidth, inChannels, outChannels], 'float32');
  const xValues = wasm.typedArrayFromHeap(x);
  const dyValues = wasm.typedArrayFromHeap(dy);
  const filter = wasm.typedArrayFromHeap(output);
  filter.fill(0);
  const xIndex = channelsLast
    ? (b: number, r: number, c: number, channel: number) => ((b * inHeight + r) * inWidth + c) * inChannels + channel
    : (b: number, r: number, c: number, channel: number) => ((b * inChannels + channel) * inHeight + r) * inWidth + c;
  const dyIndex = channelsLast
    ? (b: number, r: number, c: number, channel: number) => ((b * outHeight + r) * outWidth + c) * outChannels + channel
    : (b: number, r: number, c: number, channel: number) => ((b * outChannels + channel) * outHeight + r) * outWidth + c;
  for (let b = 0; b < batchSize; b++) {
    for (let outRow = 0; outRow < outHeight; outRow++) {
      for (let outColumn = 0; outColumn < outWidth; outColumn++) {
        for (let filterRow = 0; filterRow < filterHeight; filterRow++) {
          const inRow = outRow * strideHeight + filterRow - top;
          if (inRow < 0 || inRow >= inHeight) continue;
          for (let filterColumn = 0; filterColumn < filterWidth; filterColumn++) {
            const inColumn = outColumn * strideWidth + filterColumn - left;
            if (inColumn < 0 || inColumn >= inWidth) continue;
            const filterBase = (filterRow * filterWidth + filterColumn) * inChannels * outChannels;
            for (let inChannel = 0; inChannel < inChannels; inChannel++) {
              const xValue = xValues[xIndex(b, inRow, inColumn, inChannel)] as number;
              if (xValue === 0) continue;
              const rowBase = filterBase + inChannel * outChannels;
              for (let outChannel = 0; outChannel < outChannels; outChannel++) {
                filter[rowBase + outChannel] = (filter[rowBase + outChannel] as number) + xValue * (dyValues[dyIndex(b, outRow, outColumn, outChannel)] as number);
              }
            }
          }
        }
      }
    }
  }
  return output;
};
