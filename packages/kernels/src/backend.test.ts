// initBackend with fake native modules (the real ones cannot be installed here), auto order, env, errors; heap budget.
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, test } from 'vitest';
import { assertTensorBudget, describeBackend, initBackend, tensorBytes, WASM_HEAP_LIMIT_BYTES } from './backend.js';
import { BackendUnavailableError, InvalidArgumentError, TensorBudgetError } from './errors.js';
import { fastKernelsActive } from './kernels/fast-kernels.js';
import { availableCores, DEFAULT_KERNEL_THREADS } from './kernels/threaded-gemm.js';

const testBackend = tf.getBackend();

/**
 * A loader that behaves like the real packages for the names in `available`: importing `@tensorflow/tfjs-node[-gpu]`
 * registers a backend named "tensorflow" (a fresh cpu-backend instance flagged `isGPUPackage`) and copies the cpu
 * kernels to it, so ops really run. Other names are imported for real (wasm) or fail like a missing package.
 */
function fakeLoader(available: Record<string, 'gpu' | 'cpu' | 'real'>) {
  const requested: string[] = [];
  const importModule = async (specifier: string): Promise<unknown> => {
    requested.push(specifier);
    const kind = available[specifier];
    if (kind === undefined) throw new Error(`Cannot find package '${specifier}'`);
    if (kind === 'real') return import(/* @vite-ignore */ specifier);
    const cpu = tf.findBackend('cpu') as tf.KernelBackend;
    const BackendClass = cpu.constructor as new () => tf.KernelBackend;
    for (const kernel of tf.getKernelsForBackend('cpu')) {
      if (tf.getKernel(kernel.kernelName, 'tensorflow') === undefined) {
        tf.registerKernel({ ...kernel, backendName: 'tensorflow' });
      }
    }
    tf.registerBackend('tensorflow', () => Object.assign(new BackendClass(), { isGPUPackage: kind === 'gpu' }), 3);
    return {};
  };
  return { importModule, requested };
}

afterEach(async () => {
  await tf.setBackend(testBackend);
  if (tf.findBackendFactory('tensorflow') !== null) tf.removeBackend('tensorflow');
  for (const kernel of tf.getKernelsForBackend('tensorflow')) tf.unregisterKernel(kernel.kernelName, 'tensorflow');
});

describe('initBackend', () => {
  test('tensorflow-gpu: loads @tensorflow/tfjs-node-gpu and reports the GPU build', async () => {
    tf.env().set('PROD', false);
    const { importModule, requested } = fakeLoader({ '@tensorflow/tfjs-node-gpu': 'gpu' });
    const info = await initBackend({ backend: 'tensorflow-gpu', importModule });
    expect(requested).toEqual(['@tensorflow/tfjs-node-gpu']);
    expect(info).toEqual({
      name: 'tensorflow-gpu',
      tfjsBackend: 'tensorflow',
      gpu: true,
      simd: null,
      threads: null,
      kernels: null,
      kernelThreads: null,
      kernelInstructions: null,
      tfjsVersion: '4.22.0',
    });
    expect(tf.getBackend()).toBe('tensorflow');
    expect(tf.env().getBool('PROD')).toBe(true);
    expect(describeBackend()).toEqual(info);
    const product = tf.matMul(tf.ones([2, 2]), tf.ones([2, 2]));
    expect(product.arraySync()).toEqual([[2, 2], [2, 2]]);
    product.dispose();
  });

  test('tensorflow: loads @tensorflow/tfjs-node and reports the CPU build', async () => {
    const { importModule, requested } = fakeLoader({ '@tensorflow/tfjs-node': 'cpu' });
    const info = await initBackend({ backend: 'tensorflow', importModule });
    expect(requested).toEqual(['@tensorflow/tfjs-node']);
    expect(info.name).toBe('tensorflow');
    expect(info.gpu).toBe(false);
    expect(info.tfjsBackend).toBe('tensorflow');
  });

  test('an explicit choice that is unavailable throws BackendUnavailableError with install instructions', async () => {
    const { importModule } = fakeLoader({});
    const gpu = initBackend({ backend: 'tensorflow-gpu', importModule });
    await expect(gpu).rejects.toThrow(BackendUnavailableError);
    await expect(gpu).rejects.toThrow(/npm install @tensorflow\/tfjs-node-gpu@4\.22\.0.*CUDA 11\.2.*cuDNN 8\.1/);
    await expect(initBackend({ backend: 'tensorflow', importModule })).rejects.toThrow(
      /npm install @tensorflow\/tfjs-node@4\.22\.0/,
    );
    await expect(initBackend({ backend: 'wasm', importModule })).rejects.toThrow(
      /npm install @tensorflow\/tfjs-backend-wasm@4\.22\.0/,
    );
    // The real loader: the native packages are not installed on this machine.
    const real = await initBackend({ backend: 'tensorflow-gpu' }).catch((error: unknown) => error);
    expect(real).toBeInstanceOf(BackendUnavailableError);
    expect((real as BackendUnavailableError).backend).toBe('tensorflow-gpu');
    expect((real as Error).cause).toBeDefined();
    expect(tf.getBackend()).toBe(testBackend);
  });

  test('tensorflow-gpu refuses the CPU build when that one owns the "tensorflow" name', async () => {
    const { importModule } = fakeLoader({ '@tensorflow/tfjs-node-gpu': 'cpu' });
    await expect(initBackend({ backend: 'tensorflow-gpu', importModule })).rejects.toThrow(/CPU build/);
  });

  test('auto tries tensorflow-gpu, tensorflow, wasm, cpu in that order', async () => {
    const wasmOnly = fakeLoader({ '@tensorflow/tfjs-backend-wasm': 'real' });
    const wasmInfo = await initBackend({ backend: 'auto', importModule: wasmOnly.importModule });
    expect(wasmOnly.requested).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-wasm']);
    expect(wasmInfo.name).toBe('wasm');

    const nothing = fakeLoader({});
    expect((await initBackend({ backend: 'auto', importModule: nothing.importModule })).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');

    const cpuBuild = fakeLoader({ '@tensorflow/tfjs-node': 'cpu', '@tensorflow/tfjs-backend-wasm': 'real' });
    expect((await initBackend({ importModule: cpuBuild.importModule, env: {} })).name).toBe('tensorflow');
    expect(cpuBuild.requested).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
  });

  test('auto prefers the GPU build and then never loads the others', async () => {
    const all = fakeLoader({
      '@tensorflow/tfjs-node-gpu': 'gpu',
      '@tensorflow/tfjs-node': 'cpu',
      '@tensorflow/tfjs-backend-wasm': 'real',
    });
    const info = await initBackend({ importModule: all.importModule, env: {} });
    expect(info.name).toBe('tensorflow-gpu');
    expect(all.requested).toEqual(['@tensorflow/tfjs-node-gpu']);
  });

  test('reads ENGRAM_BACKEND when no backend is given; the option wins over the variable', async () => {
    const loader = fakeLoader({ '@tensorflow/tfjs-node-gpu': 'gpu', '@tensorflow/tfjs-backend-wasm': 'real' });
    expect((await initBackend({ env: { ENGRAM_BACKEND: 'cpu' }, importModule: loader.importModule })).name).toBe('cpu');
    expect(loader.requested).toEqual([]);
    const wasm = await initBackend({ backend: 'wasm', env: { ENGRAM_BACKEND: 'cpu' }, importModule: loader.importModule });
    expect(wasm.name).toBe('wasm');
    expect((await initBackend({ env: { ENGRAM_BACKEND: '' }, importModule: loader.importModule })).name).toBe(
      'tensorflow-gpu',
    );
    await expect(initBackend({ env: { ENGRAM_BACKEND: 'webgpu' } })).rejects.toThrow(InvalidArgumentError);
    await expect(initBackend({ env: { ENGRAM_BACKEND: 'webgpu' } })).rejects.toThrow(/ENGRAM_BACKEND.*webgpu/);
  });

  test('wasm: reports SIMD and threads and registers the missing kernels', async () => {
    const info = await initBackend({ backend: 'wasm' });
    expect(info.name).toBe('wasm');
    expect(info.tfjsBackend).toBe('wasm');
    expect(info.gpu).toBe(false);
    expect(typeof info.simd).toBe('boolean');
    expect(info.threads).toBeGreaterThanOrEqual(1);
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeDefined();
    expect(describeBackend()).toEqual(info);
  });

  test('wasm: fast kernels by default, kernels: "stock" restores tfjs\'s own, back and forth', async () => {
    const fast = await initBackend({ backend: 'wasm' });
    expect(fast.kernels).toBe('fast');
    expect(fastKernelsActive()).toBe(true);
    const stock = await initBackend({ backend: 'wasm', kernels: 'stock' });
    expect(stock.kernels).toBe('stock');
    expect(fastKernelsActive()).toBe(false);
    expect(describeBackend().kernels).toBe('stock');
    const product = () => tf.tidy(() => Array.from(tf.matMul(tf.range(0, 6).reshape([2, 3]), tf.ones([2, 3]), false, true).dataSync()));
    const stockProduct = product();
    expect((await initBackend({ backend: 'wasm', kernels: 'fast' })).kernels).toBe('fast');
    expect(product()).toEqual(stockProduct);
    expect(stockProduct).toEqual([3, 3, 12, 12]);
    await expect(initBackend({ backend: 'wasm', kernels: 'quick' as never })).rejects.toThrow(InvalidArgumentError);
    await expect(initBackend({ backend: 'wasm', kernels: 'quick' as never })).rejects.toThrow(/kernels.*fast, stock/);
    // On other backends the choice is not applicable.
    expect((await initBackend({ backend: 'cpu', kernels: 'stock' })).kernels).toBeNull();
  });

  test('wasm: threads 2 starts the GEMM worker, threads 1 stops it, kernels "stock" reports none', async () => {
    const two = await initBackend({ backend: 'wasm', threads: 2 });
    expect(two.kernelThreads).toBe(2);
    expect(describeBackend().kernelThreads).toBe(2);
    expect((await initBackend({ backend: 'wasm', threads: 1 })).kernelThreads).toBe(1);
    expect((await initBackend({ backend: 'wasm', kernels: 'stock', threads: 2 })).kernelThreads).toBeNull();
    await expect(initBackend({ backend: 'wasm', threads: 4 })).rejects.toThrow(/threads.*1 or 2/);
    expect((await initBackend({ backend: 'cpu', threads: 2 })).kernelThreads).toBeNull();
    await initBackend({ backend: 'wasm', threads: 1 });
  });

  test('wasm: ENGRAM_KERNEL_THREADS sets the GEMM threads when the option is absent; the option wins; bad values name the variable', async () => {
    expect((await initBackend({ backend: 'wasm', env: { ENGRAM_KERNEL_THREADS: '2' } })).kernelThreads).toBe(2);
    expect((await initBackend({ backend: 'wasm', env: { ENGRAM_KERNEL_THREADS: ' 1 ' } })).kernelThreads).toBe(1);
    expect((await initBackend({ backend: 'wasm', threads: 2, env: { ENGRAM_KERNEL_THREADS: '1' } })).kernelThreads).toBe(2);
    await expect(initBackend({ backend: 'wasm', env: { ENGRAM_KERNEL_THREADS: 'many' } })).rejects.toThrow(/ENGRAM_KERNEL_THREADS.*1 or 2/);
    // Unset: two threads on a machine with two or more cores, else one.
    const expected = (await availableCores()) >= 2 ? DEFAULT_KERNEL_THREADS : 1;
    expect((await initBackend({ backend: 'wasm', env: {} })).kernelThreads).toBe(expected);
    await initBackend({ backend: 'wasm', threads: 1 });
  });

  test('wasm: the GEMM uses relaxed SIMD (FMA) by default, simd128 on request or from ENGRAM_KERNEL_INSTRUCTIONS; bad values are named', async () => {
    const auto = await initBackend({ backend: 'wasm', threads: 2 });
    expect(auto.kernelInstructions).toBe('relaxed-simd');
    expect(auto.kernelThreads).toBe(2);
    const fused = () => tf.tidy(() => Array.from(tf.matMul(tf.randomNormal([9, 300], 0, 1, 'float32', 5), tf.randomNormal([300, 7], 0, 1, 'float32', 6)).dataSync()));
    const relaxedProduct = fused();
    const plain = await initBackend({ backend: 'wasm', instructions: 'simd128', threads: 2 });
    expect(plain.kernelInstructions).toBe('simd128');
    expect(describeBackend().kernelInstructions).toBe('simd128');
    expect(plain.kernelThreads).toBe(2);
    const plainProduct = fused();
    // The builds really differ (one rounding per step against two) and agree to float32 accuracy.
    expect(plainProduct).not.toEqual(relaxedProduct);
    plainProduct.forEach((value, index) => expect(Math.abs(value - (relaxedProduct[index] as number))).toBeLessThan(1e-4));
    expect((await initBackend({ backend: 'wasm', env: { ENGRAM_KERNEL_INSTRUCTIONS: 'relaxed-simd' } })).kernelInstructions).toBe('relaxed-simd');
    expect((await initBackend({ backend: 'wasm', instructions: 'simd128', env: { ENGRAM_KERNEL_INSTRUCTIONS: 'auto' } })).kernelInstructions).toBe('simd128');
    await expect(initBackend({ backend: 'wasm', instructions: 'avx' as never })).rejects.toThrow(/instructions.*auto, simd128, relaxed-simd/);
    await expect(initBackend({ backend: 'wasm', env: { ENGRAM_KERNEL_INSTRUCTIONS: 'fma' } })).rejects.toThrow(/ENGRAM_KERNEL_INSTRUCTIONS.*auto/);
    expect((await initBackend({ backend: 'wasm', kernels: 'stock' })).kernelInstructions).toBeNull();
    expect((await initBackend({ backend: 'cpu' })).kernelInstructions).toBeNull();
    await initBackend({ backend: 'wasm', threads: 1 });
  });

  test('cpu: reports no wasm details', async () => {
    const info = await initBackend({ backend: 'cpu' });
    expect(info).toMatchObject({ name: 'cpu', tfjsBackend: 'cpu', gpu: false, simd: null, threads: null });
    await expect(initBackend({ backend: 'metal' as never })).rejects.toThrow(/backend/);
  });
});

describe('assertTensorBudget', () => {
  test('on wasm, throws past the 4 GiB heap naming what, the bytes and the cap', async () => {
    await tf.setBackend('wasm');
    const attention = tensorBytes([8, 16, 2048, 4096]); // 4 GiB of float32 scores
    expect(attention).toBe(4 * 1024 ** 3);
    const live = tf.ones([4]); // with any tensor alive, 4 GiB more is past the cap
    const error = (() => {
      try {
        assertTensorBudget(attention, 'attention scores of layer 3');
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(TensorBudgetError);
    const message = (error as Error).message;
    expect(message).toContain('attention scores of layer 3');
    expect(message).toContain(String(attention));
    expect(message).toContain('4 GiB');
    expect(message).toMatch(/smaller batch, segment length or memory/);
    expect((error as TensorBudgetError).limitBytes).toBe(WASM_HEAP_LIMIT_BYTES);
    expect(() => assertTensorBudget(1024 ** 2, 'small')).not.toThrow();
    expect(() => assertTensorBudget(-1, 'negative')).toThrow(InvalidArgumentError);
    live.dispose();
  });

  test('does nothing on other backends; tensorBytes counts per dtype', async () => {
    await tf.setBackend('cpu');
    expect(() => assertTensorBudget(8 * 1024 ** 3, 'anything')).not.toThrow();
    expect(tensorBytes([2, 3], 'int32')).toBe(24);
    expect(tensorBytes([5], 'bool')).toBe(5);
    expect(tensorBytes([])).toBe(4);
    expect(() => tensorBytes([2], 'string')).toThrow(/numeric dtype/);
  });
});
