#!/usr/bin/env node
// The shahn CLI. The TypeScript sources are built into dist/ by `npm install` (the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error('shahn is not built yet: run `npm install` (or `npm run build`) in the repository root.');
  process.exit(2);
}
const { runCli } = await import(main);
await runCli(process.argv);
