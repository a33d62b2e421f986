/** Starts the test bed once for every integration test file and hands its addresses to them. */
import type { TestProject } from 'vitest/node';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestbed, type TestbedInfo } from './testbed.js';
import { describeRealLines } from './real-lines.js';

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
  return async () => {
    await testbed.stop();
    for (const line of describeRealLines(ledger)) console.log(line);
  };
}
