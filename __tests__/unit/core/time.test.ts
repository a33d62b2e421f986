/** The one helper for pauses and bounded waits: what it returns, what it throws, and that it leaves no timer behind. */
import { describe, expect, it } from 'vitest';
import { sleep, withTimeout } from '../../../src/core/time.js';

const pendingTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('withTimeout', () => {
  it("gives the promise's value when it settles in time, and cancels its timer", async () => {
    const before = pendingTimers();
    await expect(withTimeout(Promise.resolve('answer'), 60_000, () => 'late')).resolves.toBe('answer');
    expect(pendingTimers()).toBe(before);
  });

  it("passes the promise's own rejection on", async () => {
    await expect(withTimeout(Promise.reject(new Error('refused')), 60_000, () => 'late')).rejects.toThrow('refused');
  });

  it("gives onTimeout's value when the promise does not settle in time", async () => {
    const never = new Promise<string>(() => undefined);
    const started = Date.now();
    await expect(withTimeout(never, 50, () => 'gave up')).resolves.toBe('gave up');
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('rejects with what onTimeout throws', async () => {
    const never = new Promise<string>(() => undefined);
    await expect(
      withTimeout(never, 20, () => {
        throw new Error('did not answer within 0.02 s');
      }),
    ).rejects.toThrow('did not answer within 0.02 s');
  });

  it('does not wait for the timer once the promise has won', async () => {
    const started = Date.now();
    await withTimeout(sleep(20), 5_000, () => undefined);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('sleep', () => {
  it('waits about as long as asked', async () => {
    const started = Date.now();
    await sleep(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });
});
