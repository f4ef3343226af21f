// The model card: a README.md written into an exported model directory (what the model is, what it was trained on, its figures, how to load it).
import { stringify as toYaml } from 'yaml';
import type { TrainedModel } from './model-files.js';

/** The card's file name inside a model directory. */
export const MODEL_CARD_FILE = 'README.md';

/** Where the figures of the card come from, beyond the model directory itself. */
export interface ModelCardContext {
  /** The export format (`safetensors`, `tfjs`, `transformer-xl`). */
  format: string;
  /** What the export was made from (run, checkpoint or model directory), as the user named it. */
  source: string;
}

const loadInstructions: Record<string, string[]> = {
  safetensors: [
    'With the engram command: `engram eval <this directory>`, `engram generate <this directory> --prompt "The "`.',
    '',
    'From code (Node):',
    '',
    '```ts',
    "import { loadModel } from '@engram/model/node';",
    "const model = await loadModel('<this directory>');",
    '```',
  ],
  tfjs: ['`model.json` + `weights.bin` in the tf.io weights-manifest layout: `tf.io.loadWeights` (or a file:// handler) reads them.'],
  'transformer-xl': [
    "`model.safetensors` holds the PyTorch Transformer-XL state_dict and `config.json` its settings: load them with the official code's",
    'MemTransformerLM (or Hugging Face TransfoXLLMHeadModel with `--naming huggingface`), or back with `engram import`.',
  ],
};

/** The card's Markdown. Figures the model's files do not hold are said to be missing, never guessed. */
export function modelCard(trained: TrainedModel, context: ModelCardContext): string {
  const model = trained.model;
  const document = trained.document;
  const kind = document?.config.kind ?? model.policy.kind;
  const lines: string[] = [
    `# engram ${kind} model`,
    '',
    `Exported by \`engram export\` (format ${context.format}) from \`${context.source}\`.`,
    '',
    '## Model',
    '',
    `- kind: ${kind} (memory policy \`${model.policy.kind}\`)`,
    `- parameters: ${model.parameterCount().toLocaleString('en-US')}`,
    `- layers ${model.config.numLayers}, width ${model.config.modelDim}, heads ${model.config.numHeads}, segment ${model.config.segmentLength} tokens`,
    `- temporal range: ${model.temporalRange()} tokens`,
    `- tokenizer: ${trained.tokenizer.kind}, ${trained.tokenizer.vocabSize} tokens`,
    '',
    '## Training',
    '',
  ];
  if (document === null) {
    lines.push('No engram.json was saved with this model (it was saved by code): its training data and figures are unknown.');
  } else {
    lines.push(
      `- data: ${document.corpus}`,
      `- data checksum: ${document.dataChecksum ?? 'not recorded (trained before checksums were saved)'}`,
      `- steps: ${document.steps}`,
      `- validation: ${document.validationBitsPerToken === null ? 'not evaluated' : `${document.validationBitsPerToken.toFixed(4)} bits per token at the end`}`,
    );
    if (document.bestValidation) {
      lines.push(`- best validation: ${document.bestValidation.bitsPerToken.toFixed(4)} bits per token at step ${document.bestValidation.step}`);
    }
    lines.push(`- test: not evaluated during training (\`engram eval <this directory> --split test\`)`);
  }
  lines.push('', '## Loading', '', ...(loadInstructions[context.format] ?? []), '');
  if (document !== null) lines.push('## Configuration', '', '```yaml', toYaml(document.config).trimEnd(), '```', '');
  return lines.join('\n');
}
