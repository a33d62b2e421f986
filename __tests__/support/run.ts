/** Ways to run bai-migrate in tests: the engine in-process, or the bundled CLI and Action as a process. */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../src/engine/engine.js';
import { MemoryLogger } from '../../src/engine/logger.js';
import { parseOptions, type RawInputs } from '../../src/engine/options.js';
import type { Report } from '../../src/engine/report.js';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'bai-migrate-run-'));
}

/** Runs the engine as the adapters do, with no environment-found manager.toml. */
export async function runEngine(raw: RawInputs): Promise<{ report: Report; log: MemoryLogger; secrets: string[] }> {
  const log = new MemoryLogger();
  const secrets: string[] = [];
  const options = parseOptions({ 'report-file': join(tempDir(), 'report.json'), 'connect-timeout': '5', ...raw });
  const report = await runCommand(options, { log, onSecret: (s) => secrets.push(s), env: {} });
  return { report, log, secrets };
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a bundled entry point of dist/ with Node 24 (this test's own runtime). */
export function runDist(entry: 'index.js' | 'cli.js', args: string[], env: NodeJS.ProcessEnv, cwd = tempDir()): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, '../../dist', entry), ...args], {
      cwd,
      // Only what the run needs: no BACKEND_CONFIG_FILE or GITHUB_* leaks in from the caller.
      env: { PATH: process.env.PATH, HOME: cwd, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Starts the bundled CLI and SIGKILLs it, as a crashed runner would die, as soon as its log shows
 * `until` (a RegExp) or `until` (a probe, polled every 50 ms) says so. Resolves with what it
 * printed and whether the kill came before the process ended.
 */
export function killDistWhen(args: string[], env: NodeJS.ProcessEnv, until: RegExp | (() => Promise<boolean>)): Promise<{ killed: boolean; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, '../../dist/cli.js'), ...args], {
      cwd: tempDir(),
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let killed = false;
    let exited = false;
    const kill = () => {
      if (!killed && !exited) killed = child.kill('SIGKILL');
    };
    child.stderr.on('data', (d) => {
      stderr += d;
      if (until instanceof RegExp && until.test(stderr)) kill();
    });
    if (typeof until === 'function') {
      const poll = async () => {
        if (exited || killed) return;
        if (await until().catch(() => false)) kill();
        else setTimeout(poll, 50);
      };
      void poll();
    }
    child.on('error', reject);
    child.on('close', () => {
      exited = true;
      resolve({ killed, stderr });
    });
  });
}
