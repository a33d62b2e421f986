/** A long wait says that it is still waiting, and stops saying so when it ends. */
import { describe, expect, it } from 'vitest';
import { MemoryLogger } from '../../../src/core/logger.js';
import { whileWaiting } from '../../../src/core/progress.js';
import { runChild } from '../../../src/manager/child-env.js';

describe('whileWaiting', () => {
  it('prints a line per interval while a child runs, naming what is waited for, and none after it ends', async () => {
    const log = new MemoryLogger();
    const result = await runChild('pip', 'sleep', ['0.5'], { progress: { log, what: 'pip install backend.ai-manager==24.12.1', everyMs: 100 } });
    expect(result.exitCode).toBe(0);
    expect(log.lines.length).toBeGreaterThanOrEqual(3);
    for (const line of log.lines) expect(line).toMatch(/^… still waiting for pip install backend\.ai-manager==24\.12\.1 \(\d+ s\)$/);
    const printed = log.lines.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(log.lines).toHaveLength(printed);
  });

  it('says nothing for a wait shorter than the interval, and passes a failure through', async () => {
    const log = new MemoryLogger();
    await expect(whileWaiting({ log, what: 'the migration lock', everyMs: 1_000 }, () => Promise.reject(new Error('lock-timeout')))).rejects.toThrow('lock-timeout');
    expect(await whileWaiting({ log, what: 'Redis', everyMs: 1_000 }, async () => 7)).toBe(7);
    expect(log.lines).toEqual([]);
  });
});
