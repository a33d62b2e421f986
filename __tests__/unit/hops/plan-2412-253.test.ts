/**
 * Every pair of releases from 24.12.0 to 25.3.3 (the catalogue's releases, oldest first) plans the
 * path releases.md gives for 24.12 → 25.1 → 25.2 → 25.3: a plain upgrade to each line's final
 * patch, the last hop to the release asked for; within a line, a patch upgrade.
 */
import { describe, expect, it } from 'vitest';
import { parseVersion } from '../../../src/releases/catalogue.js';
import { makePlan, requireSupported } from '../../../src/hops/plan.js';
import { RELEASES, upgradeSkips } from '../../../src/releases/releases.js';
import { factsAt } from '../../../src/releases/schema-facts.js';
import { schema } from '../../../src/steps/schema/index.js';
import { HOPS } from '../../../src/hops/index.js';

const v = (text: string) => parseVersion(text, 'version');

/** Each line's final patch and its head (releases.md §1, §3.7–§3.9), and the steps of the hop into it. */
const LINES: Record<string, { final: string; head: string; steps: string[] }> = {
  '24.12': { final: '24.12.1', head: '0bb88d5a46bf', steps: [] },
  '25.1': { final: '25.1.1', head: 'fb89f5d7817b', steps: ['services-stopped', 'schema'] },
  '25.2': { final: '25.2.0', head: 'ecc9f6322be4', steps: ['services-stopped', 'endpoint-images', 'schema'] },
  '25.3': { final: '25.3.3', head: '8f85e9d0bd4e', steps: ['services-stopped', 'schema', 'aiomonitor-ports'] },
};
const ORDER = Object.keys(LINES);
const inRange = RELEASES.filter((r) => ORDER.includes(r.line));

describe('plan between every two releases of 24.12 … 25.3', () => {
  it('the catalogue has the releases releases.md lists: 24.12.0–1, 25.1.0–1, 25.2.0, 25.3.0–3', () => {
    expect(inRange.map((r) => r.version)).toEqual(['24.12.0', '24.12.1', '25.1.0', '25.1.1', '25.2.0', '25.3.0', '25.3.1', '25.3.2', '25.3.3']);
    for (const [line, { final, head }] of Object.entries(LINES)) expect(inRange.filter((r) => r.line === line).at(-1)).toMatchObject({ version: final, head });
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
