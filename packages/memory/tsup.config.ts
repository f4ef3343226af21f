import { engramTsup } from '@engram/tooling/tsup';

export default engramTsup({
  index: 'src/index.ts',
  testing: 'src/testing/index.ts',
  internal: 'src/internal.ts',
});
