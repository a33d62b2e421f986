/**
 * The revisions `alembic upgrade head` would take as done without running them, computed from the
 * release graphs (src/releases/generated.ts) for the hops where upstream re-parented revisions,
 * and the order apply-missing runs them in.
 */
import { describe, expect, it } from 'vitest';
import { latestRelease, parentsIn, pastIn, revisionsOf, revisionsToApply, upgradeSkips } from '../../../src/releases/releases.js';

const hop = (from: string, to: string) => upgradeSkips(from, to, [latestRelease(from).head], latestRelease(to).head);

describe('upgrade skips between lines', () => {
  it.each([
    ['22.09', '23.03', ['10c58e701d87', '36b69ddee76e', 'b5be363ab05c', 'b6b884fbae1f', 'd6a02307a057', 'f108628f032b']],
    ['23.09', '24.03', ['308bcecec5c2', '3f47af213b05', '41f332243bf9', '5ba7fde56ddb', '7ff52ff68bfc', 'b86b341fd9c9']],
    ['24.03', '24.09', ['31463788c713', 'c4b7ec740b36', 'd7df3baf3779', 'fdb2dcdb8811']],
    ['21.09', '22.03', []],
    ['23.03', '23.09', []],
    ['24.12', '25.1', []],
    ['25.1', '25.2', []],
    ['25.2', '25.3', []],
    ['25.15', '25.16', []],
  ] as const)('%s → %s skips %j', (from, to, skipped) => {
    expect(hop(from, to)).toEqual({ skipped, covered: [] });
  });

  it('a skipped id whose twin ran or will run is harmless', () => {
    expect(hop('26.3', '26.4')).toEqual({ skipped: [], covered: [{ revision: '1cc9b47e0a8e', twin: '0b1efbb2db84' }] });
    expect(hop('26.7', '26.8').skipped).toEqual([]);
    expect(hop('26.7', '26.8').covered.map((c) => c.revision)).toEqual(['bd1bf0524350', 'daf20413acda', 'f2b9a4c7e103']);
  });

  it('from the revision both lines agree on, nothing is skipped', () => {
    expect(upgradeSkips('22.09', '23.03', ['3efd66393bd0'], latestRelease('23.03').head)).toEqual({ skipped: [], covered: [] });
    expect(upgradeSkips('23.09', '24.03', ['85615e005fa3'], latestRelease('24.03').head)).toEqual({ skipped: [], covered: [] });
  });
});

describe('revisions to apply', () => {
  it('23.09.11 → 24.03.11: every 24.03 revision 23.09 lacks, each after its parents', () => {
    const order = revisionsToApply('23.09', '24.03', ['75ea2b136830'], '3596bc12ec09');
    const lacking = [...revisionsOf('24.03')].filter((r) => !revisionsOf('23.09').has(r));
    expect([...order].sort()).toEqual(lacking.sort());
    expect(order).toHaveLength(16);
    for (const [i, revision] of order.entries()) {
      for (const parent of parentsIn('24.03', revision)) if (order.includes(parent)) expect(order.indexOf(parent)).toBeLessThan(i);
    }
    expect(order.at(-1)).toBe('3596bc12ec09');
  });
});

describe('a database past a hop (a repeated run of several hops)', () => {
  it('is past 22.09 → 23.03 when at 23.09’s head, and not while still in either line’s graph', () => {
    expect(pastIn('22.09', '23.03', ['75ea2b136830'], 'ae7d4cd92aa7')).toBe(true);
    expect(pastIn('22.09', '23.03', ['ae7d4cd92aa7'], 'ae7d4cd92aa7')).toBe(false);
    expect(pastIn('22.09', '23.03', ['d58a526bf837'], 'ae7d4cd92aa7')).toBe(false);
    expect(pastIn('22.09', '23.03', ['3efd66393bd0'], 'ae7d4cd92aa7')).toBe(false);
    expect(pastIn('22.03', '22.09', ['ae7d4cd92aa7'], 'd58a526bf837')).toBe(true);
  });

  it('is not past 24.12 at 24.09.14’s head, which 25.2 re-parents after 24.12’s head', () => {
    expect(pastIn('24.09', '24.12', ['ecc9f6322be4'], '0bb88d5a46bf')).toBe(false);
  });
});
