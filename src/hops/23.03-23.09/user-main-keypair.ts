/**
 * 23.09's revision d3f8c74bf148 gives every user a main keypair: the oldest of its keypairs, and a
 * new keypair (fresh access and secret key, SSH key pair, the default resource policy) for every
 * user that has none (backend.ai@23.09.10:src/ai/backend/manager/models/alembic/versions/
 * d3f8c74bf148_user_main_keypair.py). Those keys appear in the data without anyone asking for
 * them; preflight says how many, and verify that every user has its main keypair.
 */
import { columnExists, tableExists } from '../../stores/schema.js';
import { failed, ok, skipped, type Step } from '../../steps/step.js';

export const userMainKeypair: Step = {
  id: 'user-main-keypair',
  title: "Every user's main keypair (revision d3f8c74bf148)",
  kind: 'check',
  action: "Says how many users have no keypair, for whom 23.09's schema upgrade creates one, and verifies that every user has its main keypair afterwards.",
  servers: ['postgres'],
  tables: ['users', 'keypairs'],

  async preflight({ deployment }) {
    const pg = deployment.postgres;
    if (!(await tableExists(pg, 'users'))) return [skipped('the database has no users table')];
    // A resumed or repeated run: the revision already ran.
    if (await columnExists(pg, 'users', 'main_access_key')) return [ok('users.main_access_key exists: the 23.09 schema has given every user its main keypair already')];
    const { rows } = await pg.query<{ users: string; without: string }>(
      `SELECT count(*) AS users, count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM keypairs k WHERE k."user" = u.uuid)) AS without FROM users u`,
    );
    const { users, without } = rows[0]!;
    return [
      Number(without) === 0
        ? ok(`each of the ${users} user(s) has a keypair: the upgrade picks the oldest as its main keypair`)
        : ok(`${without} of ${users} user(s) have no keypair: the schema upgrade creates one for each (new access and secret keys), and picks the oldest keypair of the others as their main keypair`),
    ];
  },

  async verify({ deployment }) {
    const pg = deployment.postgres;
    // The schema step's verify says whether the column should be there.
    if (!(await columnExists(pg, 'users', 'main_access_key'))) return [skipped('users.main_access_key does not exist yet: nothing to check')];
    const { rows } = await pg.query<{ without: string }>(`SELECT count(*) AS without FROM users WHERE main_access_key IS NULL`);
    const without = Number(rows[0]!.without);
    return [without === 0 ? ok('every user has its main keypair (users.main_access_key)') : failed(`${without} user(s) have no main keypair (users.main_access_key is NULL)`)];
  },
};
