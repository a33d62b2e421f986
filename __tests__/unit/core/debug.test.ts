/**
 * Debugging the shipped bundle: an unexpected error's stack (with --debug, or the Action's debug
 * log) points at src/…ts through the source maps, and dist/ carries the bundled packages' licences.
 * Runs dist/: `npm run bundle` first.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { actionInputs, runDist, tempDir } from '../../support/run.js';
import { MemoryLogger, redactingLogger } from '../../../src/core/logger.js';
import { SNAPSHOT_FORMAT_VERSION } from '../../../src/rehearsal/snapshot-file.js';

const DIST = join(import.meta.dirname, '../../../dist');
const TOKEN = 'ghs_DebugToken0123456789abcdef';

/**
 * A real way to reach a bug: a file that passes the snapshot's format checks but whose manifest
 * lacks the release, which rehearse reads without expecting it to be missing.
 */
function oddSnapshot(): string {
  const file = join(tempDir(), 'odd.jsonl.gz');
  writeFileSync(file, gzipSync(`${JSON.stringify({ format: 'bai-migrate-snapshot', formatVersion: SNAPSHOT_FORMAT_VERSION })}\n${JSON.stringify({ t: 'end', records: 0 })}\n`));
  return file;
}

/** Stack frames that name a TypeScript source of this repository, with line and column. */
const SOURCE_FRAME = /^ {4}at .*\/src\/rehearsal\/rehearse\.ts:\d+:\d+\)?$/m;

beforeAll(() => {
  if (!existsSync(join(DIST, 'cli.js'))) throw new Error('dist/ is not built: run npm run bundle first');
});

// Each case starts the bundled CLI or Action in a process of its own: seconds on a loaded 2-core machine.
describe('an unexpected error', { timeout: 30_000 }, () => {
  it('the CLI with --debug prints its stack, mapped to src/…ts; without --debug only the message', async () => {
    const args = ['rehearse', '--to-version', '22.03', '--snapshot-file', oddSnapshot(), '--github-token', TOKEN];
    const debug = await runDist('cli.js', [...args, '--debug'], {});
    expect(debug.code).toBe(1);
    expect(debug.stdout).toContain("unexpected error: Cannot read properties of undefined (reading 'series')");
    expect(debug.stderr).toMatch(/^debug: stack of the unexpected error: TypeError: Cannot read properties of undefined \(reading 'series'\)$/m);
    expect(debug.stderr).toMatch(SOURCE_FRAME);
    // Whichever folder of src/ holds it: this runs dist/ as built, which may predate a move.
    expect(debug.stderr).toMatch(/^ {4}at async runCommand \(.*\/src\/\w+\/run-command\.ts:\d+:\d+\)$/m);
    // No frame of the bundle itself: every frame of ours is mapped.
    expect(debug.stderr).not.toMatch(/dist\/(chunks\/)?[\w-]+\.js:\d+/);
    expect(debug.stderr + debug.stdout).not.toContain(TOKEN);

    const plain = await runDist('cli.js', args, {});
    expect(plain.code).toBe(1);
    expect(plain.stdout).toContain("unexpected error: Cannot read properties of undefined (reading 'series')");
    expect(plain.stderr).not.toContain('debug:');
    expect(plain.stderr).not.toMatch(/^ {4}at /m);
  });

  it('the Action logs its stack with core.debug (shown with ACTIONS_STEP_DEBUG), mapped to src/…ts', async () => {
    const dir = tempDir();
    const output = join(dir, 'output');
    writeFileSync(output, '');
    const { code, stdout } = await runDist('index.js', [], {
      ...actionInputs({ command: 'rehearse', 'to-version': '22.03', 'snapshot-file': oddSnapshot(), 'report-file': join(dir, 'report.json') }),
      GITHUB_OUTPUT: output,
    });
    expect(code).toBe(1);
    const line = stdout.split('\n').find((l) => l.startsWith('::debug::stack of the unexpected error: TypeError'));
    expect(line, stdout).toBeDefined();
    // core.debug escapes the stack's newlines as %0A.
    expect(decodeURIComponent(line!)).toMatch(/\/src\/rehearsal\/rehearse\.ts:\d+:\d+/);
  });

  it('is redacted like every other line', () => {
    const memory = new MemoryLogger();
    redactingLogger(memory, new Set(['s3cr3t-pw'])).debug('Error: s3cr3t-pw\n    at x (/src/a.ts:1:1)');
    expect(memory.lines).toEqual(['debug: Error: ***\n    at x (/src/a.ts:1:1)']);
  });
});

describe('dist/licenses.txt', () => {
  it('names every bundled package with its licence text, pg, ioredis and etcd3 among them', () => {
    const text = readFileSync(join(DIST, 'licenses.txt'), 'utf8');
    for (const [name, licenceFile] of [
      ['pg', 'LICENSE'],
      ['ioredis', 'LICENSE'],
      ['etcd3', 'LICENSE'],
      ['@actions/core', 'LICENSE.md'],
      ['testcontainers', 'LICENSE'],
    ] as const) {
      const { version } = JSON.parse(readFileSync(join('node_modules', name, 'package.json'), 'utf8')) as { version: string };
      const block = text.split(/\n=+\n/).find((b) => b.startsWith(`${name}@${version}\n`));
      expect(block, `${name}@${version} in dist/licenses.txt`).toBeDefined();
      expect(block).toMatch(/^License: (MIT|Apache-2\.0)$/m);
      // The package's own licence file, word for word.
      expect(block).toContain(readFileSync(join('node_modules', name, licenceFile), 'utf8').trim());
    }
    expect(text).toMatch(/^pg@[\d.]+\nLicense: MIT\n--- LICENSE ---\n[\s\S]*Permission is hereby granted/m);
  });
});
