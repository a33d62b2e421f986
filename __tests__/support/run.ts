/** Ways to run bai-migrate in tests: the engine in-process, or the bundled CLI and Action as a process. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../src/commands/run-command.js';
import { MemoryLogger } from '../../src/core/logger.js';
import { INPUTS, parseOptions, type Options, type RawInputs } from '../../src/options/index.js';
import type { Report } from '../../src/core/report/index.js';

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'bai-migrate-run-'));
}

/** Runs the engine as the adapters do, with no environment-found manager.toml; `log` may watch the run's progress. */
export async function runEngine<L extends MemoryLogger = MemoryLogger>(
  raw: RawInputs,
  log: L = new MemoryLogger() as L,
  /** What no input sets: `disposableCopy` says the test's deployment is thrown away after it, as a rehearsal's restored copy is. */
  internal: Pick<Options, 'disposableCopy'> = {},
): Promise<{ report: Report; log: L; secrets: string[] }> {
  const secrets: string[] = [];
  const options = { ...parseOptions({ 'report-file': join(tempDir(), 'report.json'), 'connect-timeout': '5', ...raw }), ...internal };
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
        else setTimeout(() => void poll(), 50);
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

/** Parses the runner's file command format: name<<DELIMITER\nvalue\nDELIMITER. */
function readOutputs(path: string): Record<string, string> {
  const text = readFileSync(path, 'utf8');
  const outputs: Record<string, string> = {};
  const pattern = /^([\w-]+)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  for (const match of text.matchAll(pattern)) outputs[match[1]!] = match[3]!;
  return outputs;
}

/** INPUT_<NAME> of every input as the runner sets them: the workflow's value, else action.yml's default, else empty. */
export function actionInputs(inputs: Record<string, string>): NodeJS.ProcessEnv {
  return Object.fromEntries(INPUTS.map((spec) => [`INPUT_${spec.name.toUpperCase()}`, inputs[spec.name] ?? spec.default ?? '']));
}

/** Runs dist/index.js as the runner does: inputs in INPUT_*, outputs and summary in files read back. */
export async function runAction(inputs: Record<string, string>, extraEnv: NodeJS.ProcessEnv = {}) {
  const dir = tempDir();
  const files = { output: join(dir, 'output'), summary: join(dir, 'summary'), report: join(dir, 'report.json') };
  writeFileSync(files.output, '');
  writeFileSync(files.summary, '');
  const env: NodeJS.ProcessEnv = { GITHUB_OUTPUT: files.output, GITHUB_STEP_SUMMARY: files.summary, ...extraEnv, ...actionInputs({ 'report-file': files.report, ...inputs }) };
  const result = await runDist('index.js', [], env, dir);
  return { result, files, outputs: readOutputs(files.output), summary: readFileSync(files.summary, 'utf8') };
}
