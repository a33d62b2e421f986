import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryLogger } from '../../../src/core/logger.js';
import { withVenvLock } from '../../../src/manager/venv-lock.js';

const fast = { pollMs: 20, timeoutMs: 5_000 };
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

describe('one run at a time makes a release venv', () => {
  it('a second run waits for the first and never works on the venv at the same time', async () => {
    const lock = join(mkdtempSync(join(tmpdir(), 'venv-lock-')), '25.3.3.lock');
    const events: string[] = [];
    const log = new MemoryLogger();
    const work = (name: string) => async () => {
      events.push(`${name} starts`);
      await sleep(150);
      events.push(`${name} ends`);
      return name;
    };
    const results = await Promise.all([withVenvLock(lock, 'venv A', log, work('first'), fast), withVenvLock(lock, 'venv A', log, work('second'), fast)]);
    expect(results).toEqual(['first', 'second']);
    expect(events).toEqual(['first starts', 'first ends', 'second starts', 'second ends']);
    expect(log.lines.filter((line) => line.includes('another bai-migrate is making it'))).toHaveLength(1);
    expect(existsSync(lock), 'the lock is gone when the work is done').toBe(false);
  });

  it('releases the lock when the work fails', async () => {
    const lock = join(mkdtempSync(join(tmpdir(), 'venv-lock-')), 'x.lock');
    await expect(withVenvLock(lock, 'venv B', new MemoryLogger(), () => Promise.reject(new Error('pip failed')), fast)).rejects.toThrow('pip failed');
    expect(existsSync(lock)).toBe(false);
  });

  it('takes over a lock whose process has ended', async () => {
    const lock = join(mkdtempSync(join(tmpdir(), 'venv-lock-')), 'x.lock');
    const ended = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    writeFileSync(lock, JSON.stringify({ pid: Number(ended.stdout.toString()), host: hostname(), since: '2026-01-01T00:00:00Z' }));
    const log = new MemoryLogger();
    expect(await withVenvLock(lock, 'venv C', log, async () => 'made', fast)).toBe('made');
    expect(log.lines.join('\n')).toMatch(/was left by process \d+, which has ended; taking it over/);
  });

  it('gives up after its timeout, naming the holder and the file to delete', async () => {
    const lock = join(mkdtempSync(join(tmpdir(), 'venv-lock-')), 'x.lock');
    // This test's own process is alive: its lock is held.
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), since: '2026-01-01T00:00:00Z' }));
    const error = await withVenvLock(lock, 'manager venv /v/25.3.3', new MemoryLogger(), async () => 'never', { pollMs: 10, timeoutMs: 60 }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(
      `manager venv /v/25.3.3: waited 0 s for process ${process.pid} on ${hostname()}, since 2026-01-01T00:00:00Z to finish making it (lock ${lock}); if no bai-migrate is running with this manager-venv, delete ${lock} and run again`,
    );
    expect(existsSync(lock), "another run's lock is left alone").toBe(true);
  });
});
