import { engramTsup } from '@engram/tooling/tsup';

export default engramTsup({
  index: 'src/index.ts',
  register: 'src/register.ts',
  testing: 'src/testing/index.ts',
});
