/**
 * Which Backend.AI release lines this test run met as the real package from PyPI, and which only
 * as a stand-in: each test that ran a real manager's alembic or CLI records the release here, in
 * a ledger file the global setup makes, and the global teardown prints both lists from it and from
 * the hops bai-migrate takes (src/hops). Nothing is listed as real that did not run.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { inject } from 'vitest';
import { HOPS } from '../../src/hops/index.js';
import { compareLines } from '../../src/releases/releases.js';
import { splitVersion } from '../../src/releases/catalogue.js';

declare module 'vitest' {
  export interface ProvidedContext {
    realLedger: string;
  }
}

/** Called by a test once the release's own code ran (its alembic, its CLI). */
export function ranRealPackage(release: string, what: string): void {
  appendFileSync(inject('realLedger'), `${JSON.stringify({ release, what })}\n`);
}

/** The summary lines for the end of the run. */
export function describeRealLines(ledger: string): string[] {
  const entries = existsSync(ledger)
    ? readFileSync(ledger, 'utf8')
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => JSON.parse(line) as { release: string; what: string })
    : [];
  const byLine = new Map<string, Map<string, Set<string>>>();
  for (const { release, what } of entries) {
    const line = splitVersion(release)?.line ?? release;
    const releases = byLine.get(line) ?? new Map<string, Set<string>>();
    releases.set(release, (releases.get(release) ?? new Set()).add(what));
    byLine.set(line, releases);
  }
  const covered = [...new Set(HOPS.flatMap((hop) => [hop.from, hop.to]))].sort(compareLines);
  const real = [...byLine.keys()].sort(compareLines);
  const standIn = covered.filter((line) => !byLine.has(line));
  return [
    `Backend.AI lines with the real package from PyPI: ${
      real.map((line) => `${line} (${[...byLine.get(line)!].map(([release, whats]) => `${release}: ${[...whats].sort().join(', ')}`).join('; ')})`).join(', ') || 'none'
    }`,
    `Backend.AI lines with a stand-in only (the fixture's scripts or the line's graph): ${standIn.join(', ') || 'none'}`,
  ];
}
