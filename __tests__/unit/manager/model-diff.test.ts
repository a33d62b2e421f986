import { describe, expect, it } from 'vitest';
import { describeDifference } from '../../../src/manager/model-diff.js';

describe('describeDifference', () => {
  it('says which side has the object, and for a column what differs', () => {
    expect(describeDifference({ kind: 'extra', object: 'index', table: 'kernels', name: 'ix_kernels_role' })).toBe('index ix_kernels_role on kernels is in the database, not in the models');
    expect(describeDifference({ kind: 'missing', object: 'table', table: 'endpoint_tokens', name: 'endpoint_tokens' })).toBe('table endpoint_tokens is in the models, not in the database');
    expect(describeDifference({ kind: 'missing', object: 'foreign key', table: 'vfolders', name: 'fk_vfolders_user_users' })).toBe(
      'foreign key fk_vfolders_user_users on vfolders is in the models, not in the database',
    );
    expect(describeDifference({ kind: 'changed', object: 'column', table: 'scaling_groups', name: 'scaling_groups.driver', how: 'nullable in the database, NOT NULL in the models' })).toBe(
      'column scaling_groups.driver is nullable in the database, NOT NULL in the models',
    );
  });
});
