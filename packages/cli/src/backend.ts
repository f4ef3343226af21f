// Backend selection for the commands: `--backend auto|tensorflow-gpu|tensorflow|wasm|cpu` through initBackend of @engram/kernels.
import { initBackend, type BackendInfo } from '@engram/kernels';
import type { BackendChoice } from './config/schema.js';

/** The backend a command runs on. */
export interface SelectedBackend {
  /** What initBackend reported. */
  info: BackendInfo;
  /** One line for the terminal, e.g. `wasm (SIMD, 1 thread, tfjs 4.22.0)`. */
  description: string;
}

/** Initialises the tensor backend (auto: tensorflow-gpu, tensorflow, wasm, cpu; the first that runs). */
export async function setupBackend(choice: BackendChoice): Promise<SelectedBackend> {
  const info = await initBackend({ backend: choice });
  return { info, description: describeBackendInfo(info) };
}

/** One line describing a backend. */
export function describeBackendInfo(info: BackendInfo): string {
  const details: string[] = [];
  if (info.gpu) details.push('GPU');
  if (info.simd !== null) details.push(info.simd ? 'SIMD' : 'no SIMD');
  if (info.threads !== null) details.push(`${info.threads} thread${info.threads === 1 ? '' : 's'}`);
  details.push(`tfjs ${info.tfjsVersion}`);
  return `${info.name} (${details.join(', ')})`;
}
