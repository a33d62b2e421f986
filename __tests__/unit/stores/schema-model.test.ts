import { describe, expect, it } from 'vitest';
import { SchemaModel, statements } from '../../../src/stores/schema-model.js';

const live = () =>
  new SchemaModel({
    tables: ['groups', 'users', 'vfolders'],
    columns: ['groups.id', 'groups.resource_policy', 'users.uuid', 'users.role', 'vfolders.status'],
    constraints: ['groups.pk_groups', 'groups.fk_groups_resource_policy_project_resource_policies', 'users.pk_users'],
    indexes: [
      { name: 'pk_groups', table: 'groups' },
      { name: 'pk_users', table: 'users' },
      { name: 'ix_users_role', table: 'users' },
    ],
    types: ['vfolderstatus', 'userrole'],
  });

describe('the schema model plays offline DDL over the live schema', () => {
  it("splits alembic's offline SQL into statements, without its comments and parenthesised commas", () => {
    const sql = `-- Running upgrade a -> b\n\nCREATE TABLE t (\n    id UUID NOT NULL,\n    n NUMERIC(10, 2),\n    CONSTRAINT pk_t PRIMARY KEY (id)\n);\n\nUPDATE alembic_version SET version_num='b' WHERE alembic_version.version_num = 'a';\n`;
    expect(statements(sql)).toEqual([
      'CREATE TABLE t ( id UUID NOT NULL, n NUMERIC(10, 2), CONSTRAINT pk_t PRIMARY KEY (id) )',
      "UPDATE alembic_version SET version_num='b' WHERE alembic_version.version_num = 'a'",
    ]);
  });

  it('finds a dropped constraint, index, column and type that are not there, and names them', () => {
    const model = live();
    const stops = model.play(
      [
        'ALTER TABLE groups DROP CONSTRAINT fk_groups_resource_policy_users;',
        'DROP INDEX ix_vfolders_status;',
        'ALTER TABLE users DROP COLUMN domain_name;',
        "ALTER TYPE vfolderoperationstatus ADD VALUE 'delete-pending';",
        'ALTER TABLE users ALTER COLUMN role TYPE VARCHAR(64);',
      ].join('\n'),
    );
    expect(stops.map((s) => s.problem)).toEqual([
      'drops constraint fk_groups_resource_policy_users of groups, which the database does not have',
      'drops index ix_vfolders_status, which the database does not have',
      'drops column domain_name of users, which the database does not have',
      'alters type vfolderoperationstatus, which the database does not have',
    ]);
    expect(stops.every((s) => s.certain)).toBe(true);
    // What an earlier revision the check could not follow must name to explain the stop.
    expect(stops.map((s) => s.names)).toEqual([['fk_groups_resource_policy_users'], ['ix_vfolders_status'], ['users', 'domain_name'], ['vfolderoperationstatus']]);
  });

  it('passes what is there, what IF EXISTS guards, and what an earlier statement created', () => {
    const model = live();
    const sql = [
      'ALTER TABLE groups DROP CONSTRAINT fk_groups_resource_policy_project_resource_policies;',
      'ALTER TABLE groups ADD CONSTRAINT fk_groups_resource_policy_project_resource_policies FOREIGN KEY(resource_policy) REFERENCES project_resource_policies (name);',
      'DROP INDEX IF EXISTS ix_missing;',
      'CREATE TABLE "project_resource_policies" (name VARCHAR(256) NOT NULL, max_vfolder_count INTEGER, CONSTRAINT pk_project_resource_policies PRIMARY KEY (name));',
      'ALTER TABLE project_resource_policies ADD COLUMN max_quota_scope_size BIGINT;',
      'CREATE INDEX ix_prp_name ON project_resource_policies (name);',
      'DROP INDEX ix_prp_name;',
      'ALTER TABLE users RENAME COLUMN role TO user_role;',
      'ALTER TABLE users ALTER COLUMN user_role SET NOT NULL;',
      'ALTER TYPE vfolderstatus RENAME TO vfolderoperationstatus;',
      'DROP TYPE vfolderoperationstatus;',
      "UPDATE users SET role = 'user';",
    ].join('\n');
    expect(model.play(sql)).toEqual([]);
  });

  it('finds what a revision creates that is already there', () => {
    const stops = live().play("CREATE INDEX ix_users_role ON users (role);\nALTER TABLE users ADD COLUMN role VARCHAR;\nCREATE TABLE groups (id UUID);\nCREATE TYPE userrole AS ENUM ('user');");
    expect(stops.map((s) => s.problem)).toEqual([
      'creates index ix_users_role, and a relation of that name already exists',
      'adds column role to users, which already has it',
      'creates table groups, which already exists',
      'creates type userrole, which already exists',
    ]);
  });

  it('judges an object of a table the path creates as a guess: PostgreSQL names its unnamed constraints', () => {
    const model = live();
    const stops = model.play(
      'CREATE TABLE routings (id UUID PRIMARY KEY, session UUID UNIQUE, endpoint UUID);\nALTER TABLE routings DROP CONSTRAINT routings_pkey;\nALTER TABLE routings DROP CONSTRAINT routings_session_key;\nALTER TABLE routings DROP CONSTRAINT fk_routings_endpoint_endpoints;',
    );
    expect(stops).toHaveLength(1);
    expect(stops[0]).toMatchObject({ problem: 'drops constraint fk_routings_endpoint_endpoints of routings, which the database does not have', certain: false });
  });

  it('follows renamed tables and dropped tables with their objects', () => {
    const model = live();
    const stops = model.play('ALTER TABLE groups RENAME TO projects;\nALTER TABLE projects DROP CONSTRAINT pk_groups;\nDROP TABLE users;\nALTER TABLE users DROP COLUMN role;');
    expect(stops.map((s) => s.problem)).toEqual(['alters table users, which the database does not have']);
  });
});
