// The playground page: picks a backend, loads a model (shipped or dropped), streams generation with the memory drawn live, and trains tiny models in the tab.
import * as tf from '@tensorflow/tfjs';
import { recordMemoryTimeline } from '@engram/cli/browser';
import { CharacterTokenizer, loadBundledBook, StreamBatcher } from '@engram/datasets';
import { batchToTensors, disposeBatchTensors } from '@engram/datasets/tensors';
import { disposeState, type MemoryState } from '@engram/memory';
import { createAdam, createModel, generateTokens, type GenerateOptions, type ModelStream } from '@engram/model';
import { PAGE_BACKENDS, selectBackend, type PageBackend, type PageBackendInfo } from './backend.js';
import { renderLossChart } from './loss-chart.js';
import { LiveMemoryView } from './memory-view.js';
import { loadModelFromFiles, loadModelFromUrl, type LoadedModel } from './model-source.js';
import { TINY_KINDS, TINY_SEGMENT, tinyModelConfig, tinyPolicy, type TinyKind } from './tiny-models.js';

const element = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`playground: the page has no #${id}`);
  return found as T;
};

const backendSelect = element<HTMLSelectElement>('backend');
const backendStatus = element('backend-status');
const modelStatus = element('model-status');
const generateButton = element<HTMLButtonElement>('generate');
const output = element('output');
const generateStatus = element('generate-status');
const trainButton = element<HTMLButtonElement>('train');
const stopButton = element<HTMLButtonElement>('stop-training');
const trainStatus = element('train-status');

let backend: PageBackendInfo | null = null;
let loaded: LoadedModel | null = null;
let busy = false;
let stopRequested = false;

/** Lets the browser paint between tokens and steps. */
const nextFrame = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function fail(target: HTMLElement, error: unknown): void {
  target.textContent = `error: ${error instanceof Error ? error.message : String(error)}`;
  target.dataset.state = 'error';
  console.error(error);
}

function describe(info: PageBackendInfo | null): string {
  if (info === null) return 'no backend';
  return info.kernels === null ? info.name : `${info.name} (${info.kernels} matmul kernels)`;
}

async function useBackend(choice: PageBackend | 'auto'): Promise<void> {
  backendStatus.dataset.state = 'starting';
  backendStatus.textContent = `starting ${choice}…`;
  try {
    backend = await selectBackend(choice);
    backendStatus.textContent = `using ${describe(backend)}`;
    backendStatus.dataset.state = 'ready';
    backendStatus.dataset.backend = backend.name;
    if (backend.kernels !== null) backendStatus.dataset.kernels = backend.kernels;
  } catch (error) {
    fail(backendStatus, error);
  }
}

function setModel(next: LoadedModel): void {
  loaded?.model.dispose();
  loaded = next;
  const { model } = next;
  modelStatus.textContent = `${next.source}: ${model.policy.kind} model, ${model.config.numLayers} layers, ${model.parameterCount().toLocaleString()} parameters, vocabulary ${next.tokenizer.vocabSize}, segment ${model.config.segmentLength}`;
  modelStatus.dataset.state = 'ready';
  generateButton.disabled = false;
}

async function loadShipped(): Promise<void> {
  modelStatus.textContent = 'loading the shipped model…';
  try {
    setModel(await loadModelFromUrl(`${import.meta.env.BASE_URL}model/`));
  } catch (error) {
    fail(modelStatus, error);
  }
}

async function loadFiles(files: Iterable<File>): Promise<void> {
  modelStatus.textContent = 'loading the dropped model…';
  try {
    setModel(await loadModelFromFiles(files));
  } catch (error) {
    fail(modelStatus, error);
  }
}

function numberInput(id: string): number | undefined {
  const value = element<HTMLInputElement>(id).value.trim();
  return value === '' ? undefined : Number(value);
}

function generateOptions(): GenerateOptions {
  const topK = numberInput('top-k');
  const topP = numberInput('top-p');
  return {
    maxNewTokens: numberInput('max-new-tokens') ?? 120,
    strategy: element<HTMLSelectElement>('strategy').value as 'greedy' | 'sample',
    temperature: numberInput('temperature') ?? 1,
    ...(topK === undefined ? {} : { topK }),
    ...(topP === undefined ? {} : { topP }),
    seed: numberInput('seed') ?? 0,
  };
}

async function runGeneration(): Promise<void> {
  if (loaded === null || busy) return;
  busy = true;
  generateButton.disabled = true;
  generateStatus.dataset.state = 'running';
  const { model, tokenizer } = loaded;
  const prompt = element<HTMLTextAreaElement>('prompt').value;
  const promptIds = Array.from(tokenizer.encode(prompt));
  const view = new LiveMemoryView(element('generate-memory'), model, `${model.policy.kind} memory while generating`);
  const characters = [...prompt];
  output.textContent = prompt;
  let stream: ModelStream | null = null;
  let recordedAt = -1;
  const recordCommit = () => {
    if (stream === null) return;
    const committed = stream.position - stream.pending.length;
    if (committed > 0 && committed !== recordedAt) {
      recordedAt = committed;
      view.record(stream.state, committed, characters);
    }
  };
  try {
    if (promptIds.length === 0) throw new Error('The prompt is empty: type at least one character.');
    const started = performance.now();
    let count = 0;
    for (const token of generateTokens(model, promptIds, generateOptions(), (opened) => (stream = opened))) {
      const text = tokenizer.decode([token]);
      output.textContent += text;
      characters.push(text);
      count += 1;
      recordCommit();
      generateStatus.textContent = `${count} tokens, ${(count / ((performance.now() - started) / 1000)).toFixed(1)} tokens/s on ${describe(backend)}`;
      await nextFrame();
    }
    const seconds = (performance.now() - started) / 1000;
    generateStatus.textContent = `done: ${count} tokens in ${seconds.toFixed(2)} s, ${(count / seconds).toFixed(1)} tokens/s on ${describe(backend)}`;
    generateStatus.dataset.state = 'done';
  } catch (error) {
    fail(generateStatus, error);
  } finally {
    busy = false;
    generateButton.disabled = false;
  }
}

async function trainingText(): Promise<string> {
  if (element<HTMLSelectElement>('train-text').value === 'pasted') {
    const text = element<HTMLTextAreaElement>('pasted-text').value;
    if (text.length < 8 * TINY_SEGMENT) throw new Error(`Paste at least ${8 * TINY_SEGMENT} characters to train on (got ${text.length}).`);
    return text;
  }
  return (await loadBundledBook()).train;
}

async function runTraining(): Promise<void> {
  if (busy) return;
  busy = true;
  stopRequested = false;
  trainButton.disabled = true;
  stopButton.disabled = false;
  trainStatus.dataset.state = 'running';
  const kind = element<HTMLSelectElement>('train-kind').value as TinyKind;
  const steps = numberInput('train-steps') ?? 50;
  const batchSize = 4;
  let model: ReturnType<typeof createModel> | null = null;
  let optimizer: tf.Optimizer | null = null;
  let separateOptimizer: tf.Optimizer | null = null;
  let state: MemoryState | null = null;
  try {
    if (!TINY_KINDS.includes(kind)) throw new Error(`Unknown model kind ${kind}.`);
    trainStatus.textContent = 'reading the text…';
    const text = await trainingText();
    const tokenizer = CharacterTokenizer.fromText(text);
    const tokens = tokenizer.encode(text);
    const probe = tokens.subarray(0, 12 * TINY_SEGMENT);
    const batcher = new StreamBatcher(tokens, { batchSize, segmentLength: TINY_SEGMENT });
    model = createModel(tinyModelConfig(tokenizer.vocabSize), { policy: tinyPolicy(kind) });
    optimizer = createAdam({ learningRate: 3e-3 });
    // The compressive reconstruction modes train the compressor with a second optimizer.
    if (model.policy.separateVariables().length > 0) separateOptimizer = createAdam({ learningRate: 3e-3 });
    state = model.initialState(batchSize);
    const losses: number[] = [];
    const started = performance.now();
    for (let step = 1; step <= steps && !stopRequested; step++) {
      const tensors = batchToTensors(batcher.next());
      try {
        const result = model.trainStep(
          { inputs: tensors.inputs, targets: tensors.targets, ...(tensors.mask === null ? {} : { mask: tensors.mask }) },
          state,
          { optimizer, ...(separateOptimizer === null ? {} : { separateOptimizer }) },
          { clipNorm: 0.25 },
        );
        state = result.state;
        losses.push(result.taskLoss);
      } finally {
        disposeBatchTensors(tensors);
      }
      const seconds = (performance.now() - started) / 1000;
      trainStatus.textContent = `${kind}: step ${step}/${steps}, loss ${losses[losses.length - 1]?.toFixed(3)} nats/token, ${((step * batchSize * TINY_SEGMENT) / seconds).toFixed(0)} tokens/s on ${describe(backend)}`;
      element('loss-chart').innerHTML = renderLossChart(losses);
      if (step % 10 === 0 || step === steps) {
        const characters = Array.from(probe, (id) => tokenizer.decode([id]));
        LiveMemoryView.show(element('train-memory'), recordMemoryTimeline(model, probe, { title: `${kind} memory over the first ${probe.length} characters, step ${step}`, characters }));
      }
      await nextFrame();
    }
    trainStatus.textContent += stopRequested ? ' (stopped)' : ' (done)';
    trainStatus.dataset.state = 'done';
    trainStatus.dataset.steps = String(losses.length);
    trainStatus.dataset.firstLoss = String(losses[0]);
    trainStatus.dataset.lastLoss = String(losses[losses.length - 1]);
  } catch (error) {
    fail(trainStatus, error);
  } finally {
    if (state !== null) disposeState(state);
    optimizer?.dispose();
    separateOptimizer?.dispose();
    model?.dispose();
    busy = false;
    trainButton.disabled = false;
    stopButton.disabled = true;
  }
}

const dropZone = element('drop-zone');
dropZone.addEventListener('dragover', (event) => {
  event.preventDefault();
  dropZone.classList.add('over');
});
dropZone.addEventListener('dragleave', () => dropZone.classList.remove('over'));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('over');
  if (event.dataTransfer !== null) void loadFiles(Array.from(event.dataTransfer.files));
});
element<HTMLInputElement>('model-files').addEventListener('change', (event) => {
  const files = (event.target as HTMLInputElement).files;
  if (files !== null) void loadFiles(Array.from(files));
});
element('load-shipped').addEventListener('click', () => void loadShipped());
generateButton.addEventListener('click', () => void runGeneration());
trainButton.addEventListener('click', () => void runTraining());
stopButton.addEventListener('click', () => (stopRequested = true));
backendSelect.addEventListener('change', () => void useBackend(backendSelect.value as PageBackend | 'auto'));

// ?backend=wasm picks a backend from the address (the browser test uses it).
const requested = new URLSearchParams(location.search).get('backend');
const initial = requested !== null && (PAGE_BACKENDS as readonly string[]).includes(requested) ? (requested as PageBackend) : 'auto';
backendSelect.value = initial;
await useBackend(initial);
await loadShipped();
