/**
 * Starts the test bed for the integration test files and hands its addresses to them: one set of
 * servers (PostgreSQL, Redis, etcd) per worker, so that files run two at a time without seeing
 * each other's databases, Redis keys or etcd prefixes (support/worker-testbed.ts picks a worker's).
 *
 * The two integration projects (vitest.config.ts) share one run: one ledger of the real packages
 * that ran, one folder of product venvs; the last project to finish prints the ledger and cleans up.
 */
import type { TestProject } from 'vitest/node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestbed, type TestbedInfo } from './testbed.js';
import { describeRealLines } from './real-lines.js';
import { BAI_CACHE } from './real-manager.js';

declare module 'vitest' {
  export interface ProvidedContext {
    testbeds: TestbedInfo[];
  }
}

interface SharedRun {
  ledger: string;
  productVenvs: string;
  users: number;
}

const SHARED = Symbol.for('bai-migrate.integration-run');

function joinRun(): SharedRun {
  const holder = globalThis as { [SHARED]?: SharedRun };
  if (!holder[SHARED]) {
    // The product's manager venvs start empty every run (only pip's and uv's download caches are
    // shared), so no test passes on a warm machine that would fail on a fresh one. The folder of
    // earlier versions of these tests, which outlived runs, goes too.
    rmSync(join(BAI_CACHE, 'product-venvs'), { recursive: true, force: true });
    holder[SHARED] = {
      ledger: join(mkdtempSync(join(tmpdir(), 'bai-real-lines-')), 'ledger.jsonl'),
      productVenvs: mkdtempSync(join(tmpdir(), 'bai-product-venvs-')),
      users: 0,
    };
  }
  holder[SHARED].users += 1;
  return holder[SHARED];
}

function leaveRun(run: SharedRun): void {
  run.users -= 1;
  if (run.users > 0) return;
  rmSync(run.productVenvs, { recursive: true, force: true });
  for (const line of describeRealLines(run.ledger)) console.log(line);
  delete (globalThis as { [SHARED]?: SharedRun })[SHARED];
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const workers = Math.max(1, Number(project.config.maxWorkers) || 1);
  const started = Date.now();
  const testbeds = await Promise.all(Array.from({ length: workers }, () => startTestbed()));
  console.log(`${project.name}: ${workers} test bed(s) (${testbeds[0]!.info.mode}) up in ${Date.now() - started} ms`);
  project.provide(
    'testbeds',
    testbeds.map((t) => t.info),
  );
  const run = joinRun();
  project.provide('realLedger', run.ledger);
  project.provide('productVenvs', run.productVenvs);
  return async () => {
    await Promise.all(testbeds.map((t) => t.stop()));
    leaveRun(run);
  };
}
