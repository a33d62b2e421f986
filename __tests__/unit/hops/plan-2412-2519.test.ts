/**
 * Every pair of releases from 24.12.0 to 25.19.2 (the catalogue's releases, oldest first) plans the
 * path releases.md gives for 24.12 → 25.1 → … → 25.19: a plain upgrade to each line's final patch
 * (25.14.5 for 25.14, whose constraints are fixed there), the last hop to the release asked for;
 * within a line, a patch upgrade.
 */
import { describe, expect, it } from 'vitest';
import { parseVersion } from '../../../src/releases/catalogue.js';
import { makePlan, requireSupported } from '../../../src/hops/plan.js';
import { RELEASES, upgradeSkips } from '../../../src/releases/releases.js';
import { factsAt } from '../../../src/releases/schema-facts.js';
import { schema } from '../../../src/steps/schema/index.js';
import { HOPS } from '../../../src/hops/index.js';

const v = (text: string) => parseVersion(text, 'version');

const PLAIN = ['services-stopped', 'schema'];
const LOCK = [...PLAIN, 'distributed-lock'];
/** From 25.8: the manager reads its database and Redis from manager.toml merged with etcd. */
const MERGED = ['services-stopped', 'merged-connections', 'schema', 'distributed-lock'];
/**
 * Each line's releases (first, final, how many), the final's head (releases.md §1, §3.7–§3.25),
 * and the steps of the hop into it.
 */
const LINES: Record<string, { first: string; final: string; count: number; head: string; steps: string[] }> = {
  '24.12': { first: '24.12.0', final: '24.12.1', count: 2, head: '0bb88d5a46bf', steps: [] },
  '25.1': { first: '25.1.0', final: '25.1.1', count: 2, head: 'fb89f5d7817b', steps: PLAIN },
  '25.2': { first: '25.2.0', final: '25.2.0', count: 1, head: 'ecc9f6322be4', steps: ['services-stopped', 'endpoint-images', 'schema'] },
  '25.3': { first: '25.3.0', final: '25.3.3', count: 4, head: '8f85e9d0bd4e', steps: [...PLAIN, 'aiomonitor-ports'] },
  '25.4': { first: '25.4.0', final: '25.4.0', count: 1, head: '70e0533aa49a', steps: ['services-stopped', 'image-identifiers', 'preset-names', 'endpoint-token-owners', 'schema'] },
  '25.5': { first: '25.5.0', final: '25.5.2', count: 3, head: '683ca0a32f41', steps: [...PLAIN, 'internal-addr'] },
  '25.6': { first: '25.6.0', final: '25.6.17', count: 17, head: 'c7fedaca4883', steps: LOCK },
  '25.7': { first: '25.7.0', final: '25.7.0', count: 1, head: 'c7fedaca4883', steps: LOCK },
  '25.8': { first: '25.8.0', final: '25.8.1', count: 2, head: '17ea44123131', steps: MERGED },
  '25.9': { first: '25.9.0', final: '25.9.1', count: 2, head: '17ea44123131', steps: MERGED },
  '25.10': { first: '25.10.0', final: '25.10.1', count: 2, head: '17ea44123131', steps: MERGED },
  '25.11': { first: '25.11.0', final: '25.11.4', count: 5, head: 'bf39b34717d4', steps: MERGED },
  '25.12': { first: '25.12.0', final: '25.12.1', count: 2, head: '643deb439458', steps: MERGED },
  '25.13': { first: '25.13.0', final: '25.13.4', count: 5, head: '4db74efaf82e', steps: ['services-stopped', 'merged-connections', 'redis-instances', 'schema', 'distributed-lock'] },
  '25.14': { first: '25.14.0', final: '25.14.5', count: 6, head: '08c1867e266e', steps: MERGED },
  '25.15': { first: '25.15.0', final: '25.15.12', count: 13, head: 'fa3dd7f77c19', steps: MERGED },
  '25.16': { first: '25.16.0', final: '25.16.0', count: 1, head: 'd811b103dbfc', steps: MERGED },
  '25.17': { first: '25.17.0', final: '25.17.1', count: 2, head: 'dd15fd17f232', steps: MERGED },
  '25.18': { first: '25.18.0', final: '25.18.1', count: 2, head: 'b0fb0eb6b6bc', steps: MERGED },
  '25.19': { first: '25.19.0', final: '25.19.2', count: 3, head: 'd0a3c0716970', steps: MERGED },
};
const ORDER = Object.keys(LINES);
const inRange = RELEASES.filter((r) => ORDER.includes(r.line));

describe('plan between every two releases of 24.12 … 25.19', () => {
  it('the catalogue has the releases releases.md lists for each line, oldest first', () => {
    for (const [line, { first, final, count, head }] of Object.entries(LINES)) {
      const releases = inRange.filter((r) => r.line === line);
      expect([releases[0]?.version, releases.length], line).toEqual([first, count]);
      expect(releases.at(-1), line).toMatchObject({ version: final, head });
    }
  });

  const pairs = inRange.flatMap((from, i) => inRange.slice(i + 1).map((to) => [from.version, to.version] as const));
  it.each(pairs)('%s → %s', (fromVersion, toVersion) => {
    const from = inRange.find((r) => r.version === fromVersion)!;
    const to = inRange.find((r) => r.version === toVersion)!;
    const plan = makePlan(v(fromVersion), v(toVersion));
    expect(() => requireSupported(plan)).not.toThrow();
    const hops = plan.hops.map((h) => ({ label: h.label, to: h.to.version, head: h.to.head, steps: h.steps.map((s) => s.id) }));
    if (from.line === to.line) {
      expect(hops).toEqual([{ label: `${fromVersion} → ${toVersion}`, to: toVersion, head: to.head, steps: ['services-stopped', 'schema', 'manager-starts'] }]);
      return;
    }
    const lines = ORDER.slice(ORDER.indexOf(from.line) + 1, ORDER.indexOf(to.line) + 1);
    expect(hops).toEqual(
      lines.map((line, i) => {
        const last = i === lines.length - 1;
        return {
          label: `${ORDER[ORDER.indexOf(line) - 1]} → ${line}`,
          to: last ? toVersion : LINES[line]!.final,
          head: last ? to.head : LINES[line]!.head,
          steps: [...LINES[line]!.steps, ...(last ? ['manager-starts'] : [])],
        };
      }),
    );
  });

  it("each hop's schema step is the plain upgrade, and the graphs say it skips nothing from any head of the line before", () => {
    for (const line of ORDER.slice(1)) {
      const hop = HOPS.find((h) => h.to === line)!;
      expect(hop.steps).toContain(schema);
      for (const source of inRange.filter((r) => r.line === hop.from)) {
        expect(upgradeSkips(hop.from, line, [source.head], LINES[line]!.head)).toEqual({ skipped: [], covered: [] });
      }
    }
  });

  it('25.2.0 and 24.09.6–24.09.14 share the head ecc9f6322be4, and the schema facts under it tell them apart', () => {
    expect(RELEASES.filter((r) => r.head === 'ecc9f6322be4').map((r) => r.line)).toEqual([...Array(9).fill('24.09'), '25.2']);
    const in2409 = factsAt('24.09', 'ecc9f6322be4').map((f) => f.since);
    const in2502 = factsAt('25.2', 'ecc9f6322be4').map((f) => f.since);
    expect(in2502.filter((since) => !in2409.includes(since))).toEqual(['fb89f5d7817b', 'f6ca2f2d04c1']);
    expect(in2409.filter((since) => !in2502.includes(since))).toEqual([]);
  });
});
