// Test setup: select the tensor backend named by ENGRAM_TEST_BACKEND (wasm by default) before any test.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

const wanted = process.env.ENGRAM_TEST_BACKEND ?? 'wasm';
tf.env().set('PROD', true);
if (tf.getBackend() !== wanted) {
  const ok = await tf.setBackend(wanted);
  if (!ok) throw new Error(`Test setup: backend "${wanted}" could not be initialised (ENGRAM_TEST_BACKEND)`);
}
await tf.ready();
// On wasm, register Engram's kernels as initBackend does, so every package is tested on the path users run.
// The kernels package opts out (ENGRAM_TEST_KERNELS=0): its tests check the state before registration.
if (wanted === 'wasm' && process.env.ENGRAM_TEST_KERNELS !== '0') {
  await import('../packages/kernels/src/register.ts');
}
