/**
 * Revisions that act outside PostgreSQL. alembic's offline mode (`--sql`) still runs a revision's
 * Python, so a dry run never runs these, not even offline: it names them instead of showing SQL.
 */
export const OUTSIDE_DATABASE: Readonly<Record<string, string>> = {
  // backend.ai@24.09.14:src/ai/backend/manager/models/alembic/versions/1d42c726d8a3_migrate_container_registries_from_etcd_to_psql.py
  '1d42c726d8a3': 'reads etcd config/docker/registry through manager.toml, writes a copy of it beside the backup bundles and deletes it from etcd',
};

/** The revisions of `revisions` that act outside PostgreSQL, with what they do. */
export function outsideDatabase(revisions: readonly string[]): Array<{ revision: string; why: string }> {
  return revisions.filter((r) => r in OUTSIDE_DATABASE).map((revision) => ({ revision, why: OUTSIDE_DATABASE[revision]! }));
}
