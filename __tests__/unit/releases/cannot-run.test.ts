import { describe, expect, it } from 'vitest';
import { cannotRun, PACKAGE_BREAKAGES } from '../../../src/releases/cannot-run.js';
import { parseVersion } from '../../../src/releases/catalogue.js';
import { makePlan, requireSupported } from '../../../src/hops/plan.js';
import { ancestorsIn, findRelease, latestRelease, linesHolding, revisionsToApply } from '../../../src/releases/releases.js';

const v = (text: string) => parseVersion(text, 'version');
const BROKEN = ['26.4.8', '26.4.9', '26.8.0', '26.8.1'];

describe('packages that cannot run revisions of their own graph', () => {
  it('names real releases and revisions that are in those releases’ graphs', () => {
    for (const breakage of PACKAGE_BREAKAGES) {
      for (const version of breakage.releases) {
        const release = findRelease(version)!;
        expect(release, version).toBeDefined();
        for (const revision of breakage.revisions) expect(ancestorsIn(release.line, release.head).has(revision), `${revision} in ${version}`).toBe(true);
      }
    }
    // 09206ac04fd3 first ships with 25.16, the other two with 26.4.
    expect(linesHolding('09206ac04fd3')[0]).toBe('25.16');
  });

  it('refuses 26.4.8, 26.4.9, 26.8.0 and 26.8.1 for a database below 25.16 (a joined hop from 25.15), and no other package', () => {
    const from = latestRelease('25.15');
    for (const version of BROKEN) {
      const to = findRelease(version)!;
      const runs = revisionsToApply('25.15', to.line, [from.head], to.head);
      expect(runs).toContain('09206ac04fd3');
      const found = cannotRun(version, runs);
      expect(found.map((f) => f.revisions.includes('09206ac04fd3'))).toEqual([true]);
      expect(found[0]!.breakage.error).toContain('Unconsumed column names: status');
    }
    for (const version of ['26.4.7', '26.4.10', '25.16.0', '25.19.2']) {
      const to = findRelease(version)!;
      expect(cannotRun(version, revisionsToApply('25.15', to.line, [from.head], to.head)), version).toEqual([]);
    }
    // A database already past the revisions: the same package is fine.
    const past = findRelease('26.4.7')!;
    expect(cannotRun('26.4.9', revisionsToApply('26.4', '26.4', [past.head], findRelease('26.4.9')!.head))).toEqual([]);
  });

  it('the plan refuses a hop that would hand such a package those revisions, and says why and what to choose', () => {
    // 26.3 → 26.4.8 runs 2c9000848b6e and e3fb172166dc with 26.4.8's package.
    const plan = makePlan(v('26.3'), v('26.4.8'));
    const hop = plan.hops.at(-1)!;
    expect(hop.label).toBe('26.3 → 26.4');
    expect(hop.unsupported).toMatch(/backend\.ai-manager 26\.4\.8 cannot run revision\(s\) 2c9000848b6e, e3fb172166dc \(alembic stops with .*Unconsumed column names: status/);
    expect(() => requireSupported(plan)).toThrow(/26\.3 → 26\.4: backend\.ai-manager 26\.4\.8 cannot run .*fixed in 26\.4\.10/);
    // Its line's final patch is not refused for that (only not written yet).
    const fixed = makePlan(v('26.3'), v('26.4.10')).hops.at(-1)!;
    expect(fixed.unsupported).toMatch(/^bai-migrate cannot take the hop 26\.3 → 26\.4 yet/);
    // A patch upgrade inside 26.4 past those revisions runs none of them.
    expect(makePlan(v('26.4.7'), v('26.4.9')).hops.map((h) => h.unsupported)).toEqual([undefined]);
    // 25.15 → 26.8.1 goes line by line: 09206ac04fd3 runs with 25.16.0, never with 26.8.1.
    expect(makePlan(v('25.15'), v('26.8.1')).hops.find((h) => h.label === '25.15 → 25.16')!.to.version).toBe('25.16.0');
  });
});
