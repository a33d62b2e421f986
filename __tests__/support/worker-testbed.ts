/**
 * The test bed of the worker this file runs in. Integration files run two at a time, each worker
 * on its own servers (support/global-setup.ts); VITEST_POOL_ID numbers the workers from 1.
 */
import { inject } from 'vitest';
import type { TestbedInfo } from './testbed.js';

export function workerTestbed(): TestbedInfo {
  const testbeds = inject('testbeds');
  const worker = Number(process.env.VITEST_POOL_ID ?? '1');
  return testbeds[(Math.max(1, worker) - 1) % testbeds.length]!;
}
