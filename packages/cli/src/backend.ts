// Backend selection for the commands: `--backend auto|tensorflow-gpu|tensorflow|wasm|cpu` through initBackend of @engram/kernels.
import { BackendUnavailableError, initBackend, type BackendInfo } from '@engram/kernels';
import { CliError } from './errors.js';
import type { BackendChoice } from './config/schema.js';

/** The backend a command runs on. */
export interface SelectedBackend {
  /** What initBackend reported. */
  info: BackendInfo;
  /** One line for the terminal, e.g. `wasm (SIMD, Engram kernels on 2 threads, tfjs 4.22.0)`. */
  description: string;
}

/** Initialises the tensor backend (auto: tensorflow-gpu, tensorflow, wasm, cpu; the first that runs). */
export async function setupBackend(choice: BackendChoice): Promise<SelectedBackend> {
  let info: BackendInfo;
  try {
    info = await initBackend({ backend: choice });
  } catch (error) {
    // The library's advice names its ENGRAM_BACKEND variable, which the command does not read: name the flag.
    if (BackendUnavailableError.isInstance(error)) {
      const advice = error.message.replace(/,?\s*or pick another backend \(ENGRAM_BACKEND=[^)]*\)\.?\s*$/, '');
      throw new CliError(`${advice}, or choose another with --backend (auto, wasm or cpu)`, { cause: error });
    }
    throw error;
  }
  return { info, description: describeBackendInfo(info) };
}

/** One line describing a backend. */
export function describeBackendInfo(info: BackendInfo): string {
  const details: string[] = [];
  if (info.gpu) details.push('GPU');
  if (info.simd !== null) details.push(info.simd ? 'SIMD' : 'no SIMD');
  const plural = (count: number): string => `${count} thread${count === 1 ? '' : 's'}`;
  if (info.kernels === 'fast' && info.kernelThreads !== null) {
    const fused = info.kernelInstructions === 'relaxed-simd' ? ' with FMA' : '';
    details.push(`Engram kernels on ${plural(info.kernelThreads)}${fused}`);
  }
  else {
    if (info.kernels === 'stock') details.push('stock kernels');
    if (info.threads !== null) details.push(plural(info.threads));
  }
  details.push(`tfjs ${info.tfjsVersion}`);
  return `${info.name} (${details.join(', ')})`;
}
