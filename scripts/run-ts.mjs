// Runs a TypeScript script of this repo (the demo, benchmarks) on Node 24: esbuild resolves the
// sources' ".js" import specifiers to their ".ts" files, which Node's own type stripping does not.
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, ...args] = process.argv.slice(2);
// Inside node_modules, so that the bundle's external packages resolve from it.
const cache = join(process.cwd(), 'node_modules', '.cache');
mkdirSync(cache, { recursive: true });
const dir = mkdtempSync(join(cache, 'bai-migrate-script-'));
const outfile = join(dir, 'script.mjs');
await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node24', packages: 'external', outfile, logLevel: 'warning', absWorkingDir: process.cwd() });
process.argv = [process.argv[0], entry, ...args];
try {
  await import(pathToFileURL(outfile).href);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
