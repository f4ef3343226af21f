import * as tf from '@tensorflow/tfjs';
import { expect, test } from 'vitest';

test('backend', () => {
  expect(tf.getBackend()).toBe(process.env.ENGRAM_TEST_BACKEND);
  expect(tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])).arraySync()).toEqual([[2, 2], [2, 2]]);
});
