/** Starts the test bed once for every integration test file and hands its addresses to them. */
import type { TestProject } from 'vitest/node';
import { startTestbed, type TestbedInfo } from './testbed.js';

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
  return () => testbed.stop();
}
