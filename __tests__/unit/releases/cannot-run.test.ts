import { describe, expect, it } from 'vitest';
import {
  cannotRun,
  clashingRuns,
  PACKAGE_BREAKAGES,
  REVISION_CLASHES,
  SPLICES,
  STRANDED_HEADS,
  strandedHead,
  UNGUARDED_REVISIONS,
  DELETING_REVISIONS,
  deletingRuns,
  unguardedRuns,
} from '../../../src/releases/cannot-run.js';
import { parseVersion } from '../../../src/releases/catalogue.js';
import { makePlan, requireSupported } from '../../../src/hops/plan.js';
import { ancestorsIn, findRelease, latestRelease, linesHolding, parentsIn, RELEASES, reaches, revisionsOf, revisionsToApply, upgradeSkips } from '../../../src/releases/releases.js';

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
    for (const version of ['26.4.7', '26.4.10', '25.16.0', '25.19.2', '26.4.16', '26.8.2', '26.8.3', '26.9.0', '26.9.6']) {
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
    expect(() => requireSupported(plan)).toThrow(/26\.3 → 26\.4: backend\.ai-manager 26\.4\.8 cannot run .*fixed in 26\.4\.10 and 26\.8\.2\)/);
    // Its line's final patch is not refused for that (only not written yet).
    const fixed = makePlan(v('26.3'), v('26.4.10')).hops.at(-1)!;
    expect(makePlan(v('26.3'), v('26.4')).hops.at(-1)!.unsupported).toMatch(/^bai-migrate cannot take the hop 26\.3 → 26\.4 yet/);
    expect(fixed.unsupported).toMatch(/^bai-migrate cannot take the hop 26\.3 → 26\.4 yet/);
    // A patch upgrade inside 26.4 past those revisions runs none of them.
    expect(makePlan(v('26.4.7'), v('26.4.9')).hops.map((h) => h.unsupported)).toEqual([undefined]);
    // 25.15 → 26.8.1 goes line by line: 09206ac04fd3 runs with 25.16.0, never with 26.8.1.
    expect(makePlan(v('25.15'), v('26.8.1')).hops.find((h) => h.label === '25.15 → 25.16')!.to.version).toBe('25.16.0');
  });
});

const release = (version: string) => findRelease(version)!;
const through = (from: string, to: string) =>
  RELEASES.filter((r) => r.line === from.split('.').slice(0, 2).join('.') && r.patch >= Number(from.split('.')[2]) && r.patch <= Number(to.split('.')[2])).map((r) => r.version);

describe('route hazards of the releases after 26.8.1', () => {
  it('26.4.11+ is stranded against every published 26.8: its head e1b7f3d20a94 is no 26.8 revision, but every 26.9 has it', () => {
    const [stranded] = STRANDED_HEADS;
    expect(STRANDED_HEADS).toHaveLength(1);
    expect(stranded!.releases).toEqual(RELEASES.filter((r) => r.head === stranded!.head).map((r) => r.version));
    expect(stranded!.releases).toEqual(through('26.4.11', '26.4.16'));
    // As the graphs say: unknown to each 26.8 (whose graph does know the one-step-down revision), known to 26.9.
    expect(stranded!.unknownTo).toEqual(RELEASES.filter((r) => r.line === '26.8').map((r) => r.version));
    for (const version of stranded!.unknownTo) {
      expect(revisionsOf(release(version).line).has(stranded!.head), version).toBe(false);
      expect(revisionsOf(release(version).line).has(stranded!.downgradeTo), version).toBe(true);
    }
    expect(parentsIn('26.4', stranded!.head)).toEqual([stranded!.downgradeTo]);
    expect(release(stranded!.knownFrom).line).toBe('26.9');
    for (const r of RELEASES.filter((r) => r.line === '26.9')) expect(reaches(r.line, r.head, stranded!.head), r.version).toBe(true);
    expect(strandedHead(release('26.4.16'), release('26.8.3'))).toBe(stranded);
    expect(strandedHead(release('26.4.11'), release('26.8.0'))).toBe(stranded);
    expect(strandedHead(release('26.4.10'), release('26.8.3'))).toBeUndefined();
    expect(strandedHead(release('26.4.16'), release('26.9.0'))).toBeUndefined();
  });

  it('and no plan takes it there: 26.4.16 → 26.8.3 is refused like every hop after 25.19, naming the hops', () => {
    const plan = makePlan(v('26.4.16'), v('26.8.3'));
    expect(plan.hops.map((h) => [h.label, h.unsupported !== undefined])).toEqual([
      ['26.4 → 26.7', true],
      ['26.7 → 26.8', true],
    ]);
    expect(() => requireSupported(plan)).toThrow(/the plan 26\.4\.16 → 26\.8\.3 has 2 hop\(s\) bai-migrate cannot take yet: 26\.4 → 26\.7, 26\.7 → 26\.8; .*Nothing was changed$/);
    expect(() => requireSupported(makePlan(v('26.8.3'), v('26.9')))).toThrow(/cannot take yet: 26\.8 → 26\.9; /);
    expect(() => requireSupported(makePlan(v('25.19'), v('26.9.6')))).toThrow(/has 7 hop\(s\) bai-migrate cannot take yet: 25\.19 → 26\.1, .*, 26\.8 → 26\.9; /);
  });

  it('8c1f7d3a9e2b stops on a model definition that is not an object, but for 26.4.13+ and 26.9.1+', () => {
    const unguarded = UNGUARDED_REVISIONS.find((u) => u.revision === '8c1f7d3a9e2b');
    for (const version of unguarded!.guardedIn) expect(ancestorsIn(release(version).line, release(version).head).has(unguarded!.revision), version).toBe(true);
    const ships = RELEASES.filter((r) => ancestorsIn(r.line, r.head).has('8c1f7d3a9e2b')).map((r) => r.version);
    expect(ships.filter((version) => !unguarded!.guardedIn.includes(version))).toEqual([...through('26.4.4', '26.4.12'), '26.7.0', '26.8.0', '26.8.1', '26.8.2', '26.8.3', '26.9.0']);
    expect(unguarded!.stopsOn.map((p) => `${p.table}.${p.column}`)).toEqual([
      'deployment_revisions.model_definition',
      'deployment_revision_presets.model_definition',
      'runtime_variants.default_model_definition',
    ]);
    for (const probe of unguarded!.stopsOn) expect(probe.where).toContain(probe.column);
    // 26.3.3 → 26.4.12 runs it unguarded, → 26.4.13 guarded; a database past it runs nothing of it.
    const from = latestRelease('26.3');
    const runs = (to: string) => revisionsToApply('26.3', release(to).line, [from.head], release(to).head);
    const revisions = (found: readonly { revision: string }[]) => found.map((u) => u.revision);
    // On that way c7d8e9f0a1b2 and d8e9f0a1b2c3 run too, with no guard in any text (below).
    expect(revisions(unguardedRuns('26.4.12', runs('26.4.12')))).toEqual(['8c1f7d3a9e2b', 'c7d8e9f0a1b2', 'd8e9f0a1b2c3']);
    expect(revisions(unguardedRuns('26.4.13', runs('26.4.13')))).toEqual(['c7d8e9f0a1b2', 'd8e9f0a1b2c3']);
    expect(unguardedRuns('26.8.3', ['8c1f7d3a9e2b'])).toEqual([unguarded]);
    expect(unguardedRuns('26.9.0', ['8c1f7d3a9e2b'])).toEqual([unguarded]);
    expect(unguardedRuns('26.9.1', ['8c1f7d3a9e2b'])).toEqual([]);
    expect(unguardedRuns('26.4.3', ['8c1f7d3a9e2b'])).toEqual([]);
    expect(unguardedRuns('26.4.12', revisionsToApply('26.4', '26.4', [release('26.4.10').head], release('26.4.12').head))).toEqual([]);
  });

  it('c7d8e9f0a1b2 stops on a deployment revision whose image is gone in every text that ships it, until its column allows NULL', () => {
    const unguarded = UNGUARDED_REVISIONS.find((u) => u.revision === 'c7d8e9f0a1b2')!;
    expect(unguarded.guardedIn).toEqual([]);
    const ships = RELEASES.filter((r) => ancestorsIn(r.line, r.head).has('c7d8e9f0a1b2')).map((r) => r.version);
    expect(ships).toEqual([...through('26.4.4', '26.4.16'), '26.7.0', '26.8.0', '26.8.1', '26.8.2', '26.8.3', ...through('26.9.0', '26.9.6')]);
    for (const version of ships) expect(unguardedRuns(version, ['c7d8e9f0a1b2']), version).toEqual([unguarded]);
    expect(unguardedRuns('26.4.3', ['c7d8e9f0a1b2'])).toEqual([]);
    expect(unguarded.stopsOn).toEqual([expect.objectContaining({ table: 'deployment_revisions', column: 'image', onlyIf: expect.stringContaining("is_nullable = 'NO'") })]);
    expect(unguarded.remedy).toMatch(/^ALTER TABLE deployment_revisions ALTER COLUMN image DROP NOT NULL/);
  });

  it('d8e9f0a1b2c3 stops on a revision whose runtime variant no row names, in every text, until a `custom` variant exists', () => {
    const unguarded = UNGUARDED_REVISIONS.find((u) => u.revision === 'd8e9f0a1b2c3')!;
    expect(unguarded.guardedIn).toEqual([]);
    expect(unguarded.stopsOn).toEqual([expect.objectContaining({ table: 'deployment_revisions', column: 'runtime_variant', onlyIf: expect.stringContaining("name = 'custom'") })]);
    for (const version of ['26.4.4', '26.4.16', '26.8.3', '26.9.6']) expect(unguardedRuns(version, ['d8e9f0a1b2c3']), version).toEqual([unguarded]);
    expect(unguardedRuns('26.4.3', ['d8e9f0a1b2c3'])).toEqual([]);
  });

  it('045b0e0e4384 deletes the images whose container registry is gone, in every release that ships it', () => {
    const [deleting] = DELETING_REVISIONS;
    expect(deleting).toMatchObject({ revision: '045b0e0e4384', table: 'images', where: expect.stringContaining('container_registries') });
    const ships = RELEASES.filter((r) => ancestorsIn(r.line, r.head).has('045b0e0e4384')).map((r) => r.version);
    expect(ships.length).toBeGreaterThan(0);
    for (const version of ships) expect(deletingRuns(version, ['045b0e0e4384']), version).toEqual([deleting]);
    expect(deletingRuns('26.4.3', ['045b0e0e4384'])).toEqual([]);
  });

  it('bd1bf0524350 and c4a91d7e05b2 clash in one upgrade with 26.8.x and 26.9.0–26.9.2, met only from 26.4.8 or older', () => {
    const [clash] = REVISION_CLASHES;
    const [first, second] = clash!.revisions;
    for (const version of clash!.releases) {
      const r = release(version);
      expect(reaches(r.line, second, first), version).toBe(true);
    }
    expect(clash!.releases).toEqual([...through('26.8.0', '26.8.3'), ...through('26.9.0', '26.9.2')]);
    const runs = (from: string, to: string) => revisionsToApply(release(from).line, release(to).line, [release(from).head], release(to).head);
    expect(clashingRuns('26.8.3', runs('26.4.8', '26.8.3'))).toEqual([clash]);
    expect(clashingRuns('26.9.2', runs('26.3.3', '26.9.2'))).toEqual([clash]);
    expect(clashingRuns('26.9.3', runs('26.3.3', '26.9.3'))).toEqual([]);
    // From 26.4.9 bd1bf0524350 has run: only its twin is left.
    expect(clashingRuns('26.8.3', runs('26.4.9', '26.8.3'))).toEqual([]);
  });

  it("26.9's splice of e1b7f3d20a94 under 2d6443ac0d4a skips it for 26.7 and 26.8 databases, covered by f4a2b7c9e105", () => {
    const [splice] = SPLICES;
    expect(parentsIn(splice!.line, splice!.revision)).toEqual([splice!.newParent]);
    expect(parentsIn('26.8', splice!.revision)).toEqual([splice!.oldParent]);
    expect(parentsIn(splice!.line, splice!.twin)).toEqual([latestRelease('26.8').head]);
    for (const line of splice!.sources) {
      const skips = upgradeSkips(line, splice!.line, [latestRelease(line).head], latestRelease(splice!.line).head);
      expect(skips.skipped, line).toEqual([]);
      expect(skips.covered, line).toContainEqual({ revision: splice!.skipped, twin: splice!.twin });
    }
    expect(upgradeSkips('26.8', '26.9', [latestRelease('26.8').head], latestRelease('26.9').head)).toEqual({ skipped: [], covered: [{ revision: 'e1b7f3d20a94', twin: 'f4a2b7c9e105' }] });
    // From 26.4 (which ran e1b7f3d20a94, or not yet) nothing is skipped.
    for (const version of ['26.4.10', '26.4.16']) expect(upgradeSkips('26.4', '26.9', [release(version).head], latestRelease('26.9').head)).toEqual({ skipped: [], covered: [] });
  });
});
