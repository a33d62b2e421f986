/** What 24.03's 308bcecec5c2 looks up by name, judged before the hop; and what it will make. */
import { describe, expect, it } from 'vitest';
import { judgeModelStore, type ModelStoreFacts } from '../../../src/hops/23.09-24.03/model-store-project.js';

const healthy: ModelStoreFacts = { domains: ['default', 'research'], policies: ['default', 'gpu'], existingProject: undefined, users: { total: 12, byStatus: { active: 9, inactive: 2, deleted: 1 } } };

describe('308bcecec5c2 (model-store project)', () => {
  it('says what it will make, with the members it adds, inactive and deleted users among them', () => {
    expect(judgeModelStore(healthy)).toEqual([
      {
        status: 'ok',
        detail:
          '308bcecec5c2 will add the project model-store (type model-store) to the domain "default" with the resource policy "default", and make all 12 user(s) of that domain members, 2 inactive, 1 deleted among them',
      },
    ]);
  });

  it('a policy table 23.03 has yet to make is seeded on the way', () => {
    expect(judgeModelStore({ ...healthy, policies: null })[0]!.detail).toContain('with the resource policy "default" (which 23.03 seeds on the way)');
  });

  it.each<[string, Partial<ModelStoreFacts>, RegExp]>([
    [
      'no default project resource policy',
      { policies: ['gpu'] },
      /on fk_groups_resource_policy_project_resource_policies: .*"default", which does not exist \(policies: gpu\)\. Create it before migrating/,
    ],
    ['no default domain', { domains: ['research'], users: { total: 0, byStatus: {} } }, /on its foreign key to domains: .*"default", which does not exist \(domains: research\)/],
    [
      'a model-store project already there',
      { existingProject: '00000000-0000-4000-8000-000000000001' },
      /on uq_groups_name_domain_name: .*already has a project named model-store \(00000000-0000-4000-8000-000000000001\)/,
    ],
    ['a default domain without users', { users: { total: 0, byStatus: {} } }, /the domain "default" has no users, .*empty parameter list/],
  ])('refuses %s, naming the constraint and the remedy', (_what, facts, message) => {
    const findings = judgeModelStore({ ...healthy, ...facts });
    expect(findings).toHaveLength(1);
    expect(findings[0]!.status).toBe('failed');
    expect(findings[0]!.detail).toMatch(/^308bcecec5c2 \(24\.03\.11\) would stop the upgrade/);
    expect(findings[0]!.detail).toMatch(message);
  });
});
