import { engramTsup } from '@engram/tooling/tsup';

export default engramTsup(
  {
    index: 'src/index.ts',
    node: 'src/node.ts',
    tensors: 'src/tensors.ts',
  },
  // Inline the book package's manifest (its version): Node needs an import attribute that the build drops.
  { noExternal: [/^@stdlib\/datasets-moby-dick\/package\.json$/] },
);
