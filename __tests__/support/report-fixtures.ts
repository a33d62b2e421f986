/**
 * The engine's real reports as fixtures (__tests__/fixtures/reports, made by
 * make-report-fixtures.ts), a stand-in runCommand that replays one, and golden files
 * (__tests__/fixtures/golden) that UPDATE_GOLDEN=1 rewrites.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Logger } from '../../src/core/logger.js';
import type { Report } from '../../src/core/report/index.js';
import type { RunHooks } from '../../src/commands/run-command.js';

/** One call the engine made on its logger, in order; a group as its start and its end. */
export type LogEvent =
  { kind: 'info' | 'debug'; message: string } | { kind: 'warning' | 'error'; message: string; title?: string } | { kind: 'group'; name: string } | { kind: 'group-end'; name: string };

/** A fixture: the report, the logger's calls, and how many secrets the engine announced (their values are not kept). */
export interface ReportFixture {
  report: Report;
  log: LogEvent[];
  secrets: number;
}

export const REPORT_FIXTURES = ['migrate', 'dry-run', 'failed-preflight'] as const;

export function loadReportFixture(name: string): ReportFixture {
  return JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/reports', `${name}.json`), 'utf8')) as ReportFixture;
}

/** Stands in for the secret values the fixture does not keep. */
export const fixtureSecret = (i: number) => `fixture-secret-${i}`;

/** What runCommand did in the fixture's run, done again through `hooks`: the same logger calls and groups, the secrets announced, the report returned. */
export async function replay(fixture: ReportFixture, hooks: RunHooks): Promise<Report> {
  for (let i = 0; i < fixture.secrets; i++) hooks.onSecret(fixtureSecret(i));
  await replayEvents(fixture.log, 0, hooks.log);
  return structuredClone(fixture.report);
}

/** Replays events from `start` up to the end of the current group; returns the index after it. */
async function replayEvents(events: LogEvent[], start: number, log: Logger): Promise<number> {
  let i = start;
  while (i < events.length) {
    const event = events[i]!;
    if (event.kind === 'group-end') return i + 1;
    if (event.kind === 'group') {
      i = await log.group(event.name, () => replayEvents(events, i + 1, log));
      continue;
    }
    if (event.kind === 'warning' || event.kind === 'error') log[event.kind](event.message, event.title);
    else log[event.kind](event.message);
    i++;
  }
  return i;
}

const GOLDEN = join(import.meta.dirname, '../fixtures/golden');

/** `actual` must be __tests__/fixtures/golden/<file>; after an intended change, UPDATE_GOLDEN=1 npx vitest run --project unit rewrites it (review the diff). */
export function expectGolden(file: string, actual: string): void {
  if (process.env.UPDATE_GOLDEN) writeFileSync(join(GOLDEN, file), actual);
  expect(actual).toBe(readFileSync(join(GOLDEN, file), 'utf8'));
}
