/**
 * 25.4's 70e0533aa49a makes endpoint_tokens.session_owner NOT NULL before it drops the endpoints'
 * and tokens' foreign keys
 * (backend.ai@25.4.0:src/ai/backend/manager/models/alembic/versions/70e0533aa49a_remove_foreign_keys_on_endpoints.py).
 * Up to 25.3 the column is nullable, so a token without an owner stops the upgrade.
 */
import { columnExists } from '../../stores/schema.js';
import { failed, firstFew, ok, REHEARSAL_FINDS_IT, type Step } from '../../steps/step.js';

export const TOKEN_OWNER_REVISION = '70e0533aa49a';
const SHOWN = 5;

export const endpointTokenOwners: Step = {
  id: 'endpoint-token-owners',
  title: 'Every endpoint token has an owner',
  kind: 'check',
  action: `Checks that every endpoint token names its session owner, which 25.4's ${TOKEN_OWNER_REVISION} makes NOT NULL; changes nothing.`,
  servers: ['postgres'],
  tables: ['endpoint_tokens'],

  async preflight({ deployment }) {
    const pg = deployment.postgres;
    if (!(await columnExists(pg, 'endpoint_tokens', 'session_owner'))) return [ok('no endpoint_tokens.session_owner: nothing for the NOT NULL to stop on')];
    const { rows } = await pg.query<{ id: string; endpoint: string | null; total: string }>(
      `SELECT id::text, endpoint::text, count(*) OVER () AS total FROM endpoint_tokens WHERE session_owner IS NULL ORDER BY id LIMIT ${SHOWN}`,
    );
    if (rows.length === 0) return [ok(`every endpoint token has a session_owner: ${TOKEN_OWNER_REVISION}'s NOT NULL holds`)];
    return [
      failed(
        `${rows[0]!.total} endpoint token(s) have no session_owner: ${firstFew(rows, (r) => `${r.id} (endpoint ${r.endpoint ?? 'none'})`)}. 25.4's ${TOKEN_OWNER_REVISION} makes endpoint_tokens.session_owner NOT NULL and stops the upgrade on them. Set their owner (the endpoint's session_owner) or delete them first. ${REHEARSAL_FINDS_IT}`,
      ),
    ];
  },
};
