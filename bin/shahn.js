#!/usr/bin/env node
// The shahn CLI. The TypeScript sources are built into dist/ by `npm install` (the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const tickShape = fileURLToPath(new URL('../dist/lib/tick-shape.js', import.meta.url));
if (!existsSync(main) || !existsSync(tickShape)) {
  console.error('shahn is not built yet: run `npm install` (or `npm run build`) in the repository root.');
  process.exit(2);
}
// Before the rest of the program loads: keep node's nextTick on V8's fast path (dist/lib/tick-shape.js says why).
const { keepNextTickShape } = await import(pathToFileURL(tickShape).href);
keepNextTickShape();
const { runCli } = await import(main);
await runCli(process.argv);
