/**
 * scripts/check-layers.mjs (run by npm run lint) fails on an import that points up a layer, or
 * from a folder in no layer, and passes the tree as it is.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

function checkLayers(src: string): { status: number | null; stderr: string } {
  const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'check-layers.mjs'), src], { cwd: ROOT, encoding: 'utf8' });
  return { status: run.status, stderr: run.stderr };
}

/** A src/ folder of the given files (path → text) in a fresh temporary folder. */
function tree(files: Record<string, string>): string {
  const src = join(mkdtempSync(join(tmpdir(), 'check-layers-')), 'src');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(src, path)), { recursive: true });
    writeFileSync(join(src, path), text);
  }
  return src;
}

describe('the layer check', () => {
  it('passes imports that point down or stay in their layer, and ignores packages and files outside src', () => {
    const src = tree({
      'cli/cli.ts': "import { run } from '../commands/run.js';\nimport packageJson from '../../package.json' with { type: 'json' };\nimport { parseArgs } from 'node:util';\n",
      'commands/run.ts': "import type { Step } from '../steps/step.js';\nexport const run = 1;\n",
      'steps/step.ts': "import { hint } from '../stores/tls.js';\nimport { fail } from '../core/errors.js';\nexport type Step = string;\n",
      'stores/tls.ts': "export { parse } from '../options/parse.js';\nexport const hint = 1;\n",
      'options/parse.ts': "// import { run } from '../commands/run.js'; a comment is no import\nimport { facts } from '../releases/facts.js';\nexport const parse = 1;\n",
      'releases/facts.ts': "import { fail } from '../core/errors.js';\nexport const facts = 1;\n",
      'core/errors.ts': "import { now } from './time.js';\nexport const fail = 1;\n",
      'core/time.ts': 'export const now = 1;\n',
    });
    expect(checkLayers(src)).toEqual({ status: 0, stderr: '' });
  });

  it('fails on a file of core that imports anything outside core, a type or import() included', () => {
    const src = tree({
      'core/report.ts': "import type { Manifest } from '../rehearsal/file.js';\nexport const load = () => import('../commands/run.js');\n",
      'rehearsal/file.ts': 'export type Manifest = string;\n',
      'commands/run.ts': 'export const run = 1;\n',
    });
    const { status, stderr } = checkLayers(src);
    expect(status).toBe(1);
    expect(stderr).toContain('src/core/report.ts imports src/rehearsal/file.ts (domain, a layer above core); imports point down (docs/architecture.md)');
    expect(stderr).toContain('src/core/report.ts imports src/commands/run.ts (engine, a layer above core)');
  });

  it('fails on the other upward directions, and on a folder in no layer', () => {
    const src = tree({
      'options/parse.ts': "import { seal } from '../rehearsal/seal.js';\n",
      'rehearsal/seal.ts': "import { session } from '../commands/session.js';\nexport const seal = 1;\n",
      'commands/session.ts': "import { cli } from '../cli/cli.js';\nexport const session = 1;\n",
      'cli/cli.ts': 'export const cli = 1;\n',
      'engine/run.ts': 'export const run = 1;\n',
    });
    const { status, stderr } = checkLayers(src);
    expect(status).toBe(1);
    expect(stderr).toContain('src/options/parse.ts imports src/rehearsal/seal.ts (domain, a layer above options)');
    expect(stderr).toContain('src/rehearsal/seal.ts imports src/commands/session.ts (engine, a layer above domain)');
    expect(stderr).toContain('src/commands/session.ts imports src/cli/cli.ts (adapters, a layer above engine)');
    expect(stderr).toContain('src/engine/run.ts is in no layer');
  });

  it('passes the source as it is', () => {
    expect(checkLayers(join(ROOT, 'src'))).toEqual({ status: 0, stderr: '' });
  });
});
