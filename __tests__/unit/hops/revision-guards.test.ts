/** The hops' guards: each names a step of its own hop that has a preflight phase, and a revision of one of the hop's two lines. */
import { describe, expect, it } from 'vitest';
import { HOPS } from '../../../src/hops/index.js';
import { revisionGuard } from '../../../src/hops/guards.js';
import { revisionsOf } from '../../../src/releases/releases.js';

describe('revision guards', () => {
  const guards = HOPS.flatMap((hop) => (hop.guards ?? []).map((guard) => ({ hop, guard })));

  it('each guard is a step of its hop with a preflight phase, for a revision of the hop’s lines (the downgrade guards: of the source line)', () => {
    expect(guards.length).toBeGreaterThan(0);
    for (const { hop, guard } of guards) {
      const step = hop.steps.find((s) => s.id === guard.step);
      expect(step, `${hop.from} → ${hop.to} ${guard.step}`).toBeDefined();
      expect(typeof step!.preflight).toBe('function');
      expect(revisionsOf(hop.to).has(guard.revision) || revisionsOf(hop.from).has(guard.revision), guard.revision).toBe(true);
    }
  });

  it('finds the step that checks the revisions the issue names, and none for one no step checks', () => {
    expect(revisionGuard('308bcecec5c2')).toMatchObject({ hop: '23.09 → 24.03', step: 'model-store-project' });
    expect(revisionGuard('1d42c726d8a3')).toMatchObject({ hop: '24.03 → 24.09', step: 'container-registries' });
    expect(revisionGuard('d7df3baf3779')).toMatchObject({ hop: '24.03 → 24.09', step: 'vfolder-domains' });
    expect(revisionGuard('fdb2dcdb8811')).toBeUndefined();
  });

  it('no hop guards a revision twice', () => {
    for (const hop of HOPS) {
      const revisions = (hop.guards ?? []).map((guard) => guard.revision);
      expect(new Set(revisions).size).toBe(revisions.length);
    }
  });

  it('a revision two hops guard (ecc9f6322be4: downgraded in 24.09 → 24.12, upgraded in 25.1 → 25.2) is found for the hop it failed in', () => {
    expect(guards.filter(({ guard }) => guard.revision === 'ecc9f6322be4').map(({ hop }) => `${hop.from} → ${hop.to}`)).toEqual(['24.09 → 24.12', '25.1 → 25.2']);
    expect(revisionGuard('ecc9f6322be4', '24.09 → 24.12')).toMatchObject({ step: 'downgrade-guards' });
    expect(revisionGuard('ecc9f6322be4', '25.1 → 25.2')).toMatchObject({ step: 'endpoint-images' });
    expect(revisionGuard('ecc9f6322be4')).toMatchObject({ hop: '24.09 → 24.12' });
  });
});
