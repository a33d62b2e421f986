/**
 * 24.03's 308bcecec5c2 adds `groups.type` and then a project of its own: `model-store` in the
 * domain named `default`, with the project resource policy named `default`, and every user of that
 * domain as a member, in one statement per user list
 * (backend.ai@24.03.11:src/ai/backend/manager/models/alembic/versions/308bcecec5c2_add_groups_type.py).
 * It looks both names up as literals, so a deployment without them (installed by `schema oneshot`,
 * which creates the tables but seeds no policy, or renamed since) stops the upgrade on a foreign
 * key half-way through the hop; a `model-store` project already in that domain stops it on
 * uq_groups_name_domain_name; and a default domain without users hands its membership insert an
 * empty parameter list, which its SQLAlchemy 1.4.54 refuses ("A value is required for bind
 * parameter", tried with 24.03.11's own venv; 24.09.8 guards it, backend.ai#3816, and picks any
 * existing policy). This check names each before anything is written, and says what the
 * revision will make.
 */
import type pg from 'pg';
import { columnExists, tableExists } from '../../stores/schema.js';
import { failed, firstFew, ok, REHEARSAL_FINDS_IT, skipped, type Finding, type Step } from '../../steps/step.js';

export const MODEL_STORE_REVISION = '308bcecec5c2';
/** The literals the revision looks up. */
const DOMAIN = 'default';
const POLICY = 'default';
const PROJECT = 'model-store';

export interface ModelStoreFacts {
  readonly domains: readonly string[];
  /** null: the table does not exist yet; 23.03's a9eb2b002330 makes it and seeds "default". */
  readonly policies: readonly string[] | null;
  readonly existingProject: string | undefined;
  readonly users: { readonly total: number; readonly byStatus: Readonly<Record<string, number>> };
}

async function readFacts(pg: pg.Client): Promise<ModelStoreFacts> {
  const { rows: domains } = await pg.query<{ name: string }>('SELECT name FROM domains ORDER BY name');
  const policies = (await tableExists(pg, 'project_resource_policies')) ? (await pg.query<{ name: string }>('SELECT name FROM project_resource_policies ORDER BY name')).rows.map((r) => r.name) : null;
  const { rows: projects } = await pg.query<{ id: string }>('SELECT id::text FROM groups WHERE name = $1 AND domain_name = $2', [PROJECT, DOMAIN]);
  const { rows: users } = await pg.query<{ status: string | null; n: number }>('SELECT status::text AS status, count(*)::int AS n FROM users WHERE domain_name = $1 GROUP BY 1 ORDER BY 1', [DOMAIN]);
  const byStatus = Object.fromEntries(users.map((u) => [u.status ?? 'no status', u.n]));
  return { domains: domains.map((d) => d.name), policies, existingProject: projects[0]?.id, users: { total: users.reduce((sum, u) => sum + u.n, 0), byStatus } };
}

/** Every row the revision assumes, judged; and what it will make when all are there. */
export function judgeModelStore(facts: ModelStoreFacts): Finding[] {
  const stops = `${MODEL_STORE_REVISION} (24.03.11) would stop the upgrade`;
  const problems: Finding[] = [];
  if (!facts.domains.includes(DOMAIN)) {
    problems.push(
      failed(
        `${stops} on its foreign key to domains: it adds the project ${PROJECT} to the domain "${DOMAIN}", which does not exist (domains: ${firstFew(facts.domains, (d) => d) || 'none'}). Create a domain named "${DOMAIN}" before migrating`,
      ),
    );
  }
  if (facts.policies !== null && !facts.policies.includes(POLICY)) {
    problems.push(
      failed(
        `${stops} on fk_groups_resource_policy_project_resource_policies: it gives the project ${PROJECT} the project resource policy "${POLICY}", which does not exist (policies: ${firstFew(facts.policies, (p) => p) || 'none'}). Create it before migrating, as 23.03's a9eb2b002330 seeds it: INSERT INTO project_resource_policies (name, max_vfolder_size) VALUES ('${POLICY}', -1)`,
      ),
    );
  }
  if (facts.existingProject) {
    problems.push(
      failed(
        `${stops} on uq_groups_name_domain_name: the domain "${DOMAIN}" already has a project named ${PROJECT} (${facts.existingProject}), which it creates. Rename that project before migrating`,
      ),
    );
  }
  if (facts.domains.includes(DOMAIN) && facts.users.total === 0) {
    problems.push(
      failed(
        `${stops}: the domain "${DOMAIN}" has no users, and 24.03.11's ${MODEL_STORE_REVISION} inserts the memberships of ${PROJECT} with an empty parameter list, on which its SQLAlchemy 1.4 stops ("A value is required for bind parameter 'user_id'"; 24.09.8 guards it). Add a user to the domain "${DOMAIN}" before migrating`,
      ),
    );
  }
  // Each refusal says that the PR check's rehearsal meets the same stop.
  if (problems.length > 0) return problems.map((p) => ({ ...p, detail: `${p.detail}. ${REHEARSAL_FINDS_IT}` }));
  const others = Object.entries(facts.users.byStatus).filter(([status]) => status !== 'active');
  return [
    ok(
      `${MODEL_STORE_REVISION} will add the project ${PROJECT} (type model-store) to the domain "${DOMAIN}" with the resource policy "${POLICY}"${facts.policies === null ? ' (which 23.03 seeds on the way)' : ''}, and make all ${facts.users.total} user(s) of that domain members${others.length > 0 ? `, ${others.map(([status, n]) => `${n} ${status}`).join(', ')} among them` : ''}`,
    ),
  ];
}

export const modelStoreProject: Step = {
  id: 'model-store-project',
  title: `What ${MODEL_STORE_REVISION} assumes`,
  kind: 'check',
  action: `Checks the rows 24.03's ${MODEL_STORE_REVISION} looks up by name (the domain "${DOMAIN}", the project resource policy "${POLICY}", no ${PROJECT} project yet, users in that domain) and says what it will create; changes nothing.`,
  servers: ['postgres'],
  tables: ['domains', 'project_resource_policies', 'groups', 'users'],

  async preflight({ deployment }) {
    const pg = deployment.postgres;
    if (await columnExists(pg, 'groups', 'type')) return [ok(`${MODEL_STORE_REVISION} has run (groups.type exists): nothing to check`)];
    // Every Backend.AI schema has them; a schema that does not cannot be judged (the test bed's stand-ins of the revision graph).
    const missing = [];
    for (const table of ['domains', 'groups', 'users']) if (!(await tableExists(pg, table))) missing.push(table);
    if (missing.length > 0) return [skipped(`the schema has no ${missing.join(', ')} table, which ${MODEL_STORE_REVISION} writes to: not checked`)];
    return judgeModelStore(await readFacts(pg));
  },
};
