/**
 * One bai-migrate at a time makes a release's venv. Runs that share manager-venv (two jobs on one
 * self-hosted runner, a deployment and a rehearsal) would otherwise install into the same folder at
 * once and leave a venv neither finished. The lock is a file beside the venv, made with O_EXCL and
 * holding its owner's pid and host; a lock whose process is gone (on this host) is taken over.
 */
import { hostname } from 'node:os';
import { open, readFile, rm } from 'node:fs/promises';
import type { Logger } from '../core/logger.js';
import { MigrationError } from '../core/errors.js';

export interface VenvLockTiming {
  /** How often a waiting run looks again. */
  readonly pollMs: number;
  /** How long it waits for another run before it gives up. */
  readonly timeoutMs: number;
}

/** Making a 25.x venv takes about a minute with uv, an old line's with pip several: 30 min is generous. */
export const VENV_LOCK_TIMING: VenvLockTiming = { pollMs: 1_000, timeoutMs: 30 * 60_000 };

interface Holder {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readHolder(path: string): Promise<Holder | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<Holder>;
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string' ? { pid: parsed.pid, host: parsed.host, since: String(parsed.since ?? '') } : undefined;
  } catch {
    return undefined;
  }
}

async function tryTake(path: string): Promise<boolean> {
  try {
    const file = await open(path, 'wx', 0o600);
    try {
      await file.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
    } finally {
      await file.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Runs `work` holding the lock `path`, waiting while another live process holds it. `what` names
 * the venv in the log and in the error a timeout gives.
 */
export async function withVenvLock<T>(path: string, what: string, log: Logger, work: () => Promise<T>, timing: VenvLockTiming = VENV_LOCK_TIMING): Promise<T> {
  const started = Date.now();
  let told = false;
  for (;;) {
    if (await tryTake(path)) break;
    const holder = await readHolder(path);
    // A holder that cannot be read is a lock being written this instant: look again.
    if (holder && holder.host === hostname() && !alive(holder.pid)) {
      log.info(`${what}: the lock ${path} was left by process ${holder.pid}, which has ended; taking it over`);
      await rm(path, { force: true });
      continue;
    }
    if (Date.now() - started >= timing.timeoutMs) {
      const by = holder ? `process ${holder.pid} on ${holder.host}, since ${holder.since}` : 'another run';
      throw new MigrationError(
        'inconsistent-state',
        `${what}: waited ${Math.round(timing.timeoutMs / 1000)} s for ${by} to finish making it (lock ${path}); if no bai-migrate is running with this manager-venv, delete ${path} and run again`,
      );
    }
    if (!told) {
      log.info(`${what}: another bai-migrate is making it (${holder ? `process ${holder.pid} on ${holder.host}` : path}); waiting`);
      told = true;
    }
    await new Promise((done) => setTimeout(done, timing.pollMs));
  }
  try {
    return await work();
  } finally {
    await rm(path, { force: true });
  }
}
