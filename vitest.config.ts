import { defineConfig } from 'vitest/config';
import { LongestFirst } from './__tests__/support/longest-first.js';

/** Integration files run two at a time (a 2-core machine), each worker on its own test bed. */
const INTEGRATION_WORKERS = Math.max(1, Number(process.env.BAI_TEST_WORKERS ?? 2));
/** Files that measure durations and compare them: they run after the rest, alone, so that no neighbour's load skews one measurement and not the other. */
const MEASURING = ['__tests__/integration/long-lived-2303.test.ts'];

const integration = {
  globalSetup: ['__tests__/support/global-setup.ts'],
  testTimeout: 60_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    maxWorkers: INTEGRATION_WORKERS,
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        test: { name: 'unit', include: ['__tests__/unit/**/*.test.ts'] },
      },
      {
        test: { ...integration, name: 'integration', include: ['__tests__/integration/**/*.test.ts'], exclude: MEASURING },
      },
      {
        test: { ...integration, name: 'integration-measuring', include: MEASURING, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
