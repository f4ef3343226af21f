import { engramTsup } from '@engram/tooling/tsup';

export default engramTsup({
  index: 'src/index.ts',
  cli: 'src/cli.ts',
  browser: 'src/browser.ts',
  internal: 'src/internal.ts',
});
