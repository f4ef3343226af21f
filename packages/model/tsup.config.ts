import { engramTsup } from '@engram/tooling/tsup';

export default engramTsup({ index: 'src/index.ts', node: 'src/node.ts', internal: 'src/internal.ts', testing: 'src/testing/index.ts' });
