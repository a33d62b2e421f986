/**
 * 24.09's d7df3baf3779 adds vfolders.domain_name, fills it from the owning user's domain or else the
 * owning group's, then makes it NOT NULL (backend.ai@24.09.14:src/ai/backend/manager/models/alembic/versions/d7df3baf3779_add_vfolders_domain_name.py).
 * A vfolder whose user and group are both gone (24.03 dropped the foreign keys that prevented that)
 * stops the whole upgrade, after 1d42c726d8a3 has already deleted etcd's registries. Upstream
 * gives such rows a default domain only from 25.4.0 (backend.ai#3767).
 */
import { columnExists, tableExists } from '../../stores/schema.js';
import { failed, ok, type Step } from '../../steps/step.js';

const SHOWN = 5;

/** The revision that fills vfolders.domain_name and makes it NOT NULL. */
export const VFOLDER_DOMAIN_REVISION = 'd7df3baf3779';

export const vfolderDomains: Step = {
  id: 'vfolder-domains',
  title: 'Every vfolder has a domain',
  kind: 'check',
  action: "Checks that every vfolder's owning user or group still exists, from which 24.09's d7df3baf3779 takes its domain_name before making it NOT NULL; changes nothing.",
  servers: ['postgres'],
  tables: ['vfolders', 'users', 'groups'],

  async preflight({ deployment }) {
    const pg = deployment.postgres;
    if (!(await tableExists(pg, 'vfolders'))) return [ok('no vfolders table: nothing for d7df3baf3779 to fill')];
    if (await columnExists(pg, 'vfolders', 'domain_name')) return [ok('vfolders.domain_name exists: d7df3baf3779 has run')];
    const { rows } = await pg.query<{ id: string; name: string; total: string }>(
      `SELECT v.id::text, v.name, count(*) OVER () AS total FROM vfolders v
        WHERE COALESCE((SELECT u.domain_name FROM users u WHERE u.uuid = v."user"), (SELECT g.domain_name FROM groups g WHERE g.id = v."group")) IS NULL
        ORDER BY v.id LIMIT ${SHOWN}`,
    );
    if (rows.length === 0) return [ok("every vfolder's owning user or group has a domain, which d7df3baf3779 copies")];
    const total = Number(rows[0]!.total);
    const named = rows.map((r) => `${r.name} (${r.id})`).join(', ');
    return [
      failed(
        `${total} vfolder(s) belong to no user or group that still exists, e.g. ${named}: 24.09's d7df3baf3779 cannot give them a domain_name and stops the upgrade on its NOT NULL. Delete them, or set their "user" or "group" to an existing owner (upstream fixed this only in 25.4.0)`,
      ),
    ];
  },

  async verify({ deployment }) {
    const pg = deployment.postgres;
    if (!(await columnExists(pg, 'vfolders', 'domain_name'))) return [ok('vfolders.domain_name does not exist yet')];
    const { rows } = await pg.query<{ count: string }>('SELECT count(*) FROM vfolders WHERE domain_name IS NULL');
    const count = Number(rows[0]!.count);
    return [count === 0 ? ok('every vfolder has its domain_name') : failed(`${count} vfolder(s) have no domain_name`)];
  },
};
