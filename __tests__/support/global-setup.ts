/** Starts the test bed once for every integration test file and hands its addresses to them. */
import type { TestProject } from 'vitest/node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestbed, type TestbedInfo } from './testbed.js';
import { describeRealLines } from './real-lines.js';
import { BAI_CACHE } from './real-manager.js';

declare module 'vitest' {
  export interface ProvidedContext {
    testbed: TestbedInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const testbed = await startTestbed();
  console.log(`test bed (${testbed.info.mode}) up in ${Date.now() - started} ms`);
  project.provide('testbed', testbed.info);
  const ledger = join(mkdtempSync(join(tmpdir(), 'bai-real-lines-')), 'ledger.jsonl');
  project.provide('realLedger', ledger);
  // The product's manager venvs start empty every run (only pip's download cache is shared), so no
  // test passes on a warm machine that would fail on a fresh one. The folder of earlier versions
  // of these tests, which outlived runs, goes too.
  rmSync(join(BAI_CACHE, 'product-venvs'), { recursive: true, force: true });
  const productVenvs = mkdtempSync(join(tmpdir(), 'bai-product-venvs-'));
  project.provide('productVenvs', productVenvs);
  return async () => {
    await testbed.stop();
    rmSync(productVenvs, { recursive: true, force: true });
    for (const line of describeRealLines(ledger)) console.log(line);
  };
}
