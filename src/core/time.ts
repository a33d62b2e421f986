/**
 * Waiting, in one place: a pause between polls, and a wait for a promise that gives up after a
 * while. The timers are Node's promise timers, cancelled as soon as they are not needed, so that no
 * pending timer keeps the process alive after a run.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/**
 * `promise`'s outcome if it settles within `ms`; otherwise `onTimeout`'s (its value, or what it
 * throws). `promise` itself is not cancelled: the caller decides what to do with a late answer.
 */
export async function withTimeout<T, U>(promise: Promise<T>, ms: number, onTimeout: () => U | Promise<U>): Promise<T | U> {
  const cancel = new AbortController();
  const expired = sleep(ms, undefined, { signal: cancel.signal }).then(onTimeout);
  // Once the race is decided the timer is aborted, which rejects `expired`; nobody waits for it then.
  expired.catch(() => undefined);
  try {
    return await Promise.race([promise, expired]);
  } finally {
    cancel.abort();
  }
}
