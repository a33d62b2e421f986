/**
 * etcd config/docker/registry as 24.09's 1d42c726d8a3 reads it before it moves it into the
 * container_registries table (backend.ai@24.09.14:src/ai/backend/manager/models/alembic/versions/1d42c726d8a3_migrate_container_registries_from_etcd_to_psql.py):
 * each `{hostname}` key holds the registry's URL, with `type` (default docker), `project` (a
 * comma-separated list), `username`, `password` and `ssl_verify` under it. Each project becomes one
 * row. Without a project the revision stops, unless the registry is Docker Hub (type docker named
 * index.docker.io: project "library") or of type local (no project).
 */
import { pyUnquote } from '../../manager/python-values.js';

/** The revision that moves the registries, and deletes the etcd prefix before its transaction commits. */
export const REGISTRIES_MOVED_BY = '1d42c726d8a3';
/** Relative to the namespace, as Deployment.etcdPrefix reads it. */
export const REGISTRY_PREFIX = 'config/docker/registry/';

/** ContainerRegistryType of 24.09; any other `type` makes the revision fail. */
export const REGISTRY_TYPES = ['docker', 'harbor', 'harbor2', 'github', 'gitlab', 'ecr', 'ecr-public', 'local'] as const;
const DOCKER_HUB = 'index.docker.io';
/** Column lengths of container_registries (registry_name VARCHAR(50), url VARCHAR(512), project and username VARCHAR(255)). */
const LIMITS = { registryName: 50, url: 512, project: 255, username: 255 } as const;

export interface EtcdRegistry {
  /** The hostname, unquoted: container_registries.registry_name. */
  readonly name: string;
  readonly url: string | undefined;
  readonly type: string;
  readonly projects: readonly string[];
  readonly username: string | undefined;
}

/** A registry 1d42c726d8a3 would stop on, and why, naming the key to fix. */
export interface RegistryProblem {
  readonly name: string;
  readonly key: string;
  readonly reason: string;
}

/** One row of container_registries the revision makes. */
export interface RegistryRow {
  readonly name: string;
  readonly project: string | null;
}

/** The registries under the prefix (keys relative to the namespace). */
export function parseRegistries(entries: Readonly<Record<string, string>>): EtcdRegistry[] {
  const byName = new Map<string, { fields: Map<string, string> }>();
  for (const [key, value] of Object.entries(entries)) {
    if (!key.startsWith(REGISTRY_PREFIX)) continue;
    const rest = key.slice(REGISTRY_PREFIX.length);
    const slash = rest.indexOf('/');
    const name = pyUnquote(slash < 0 ? rest : rest.slice(0, slash));
    if (name === '') continue;
    const entry = byName.get(name) ?? { fields: new Map<string, string>() };
    byName.set(name, entry);
    entry.fields.set(slash < 0 ? '' : rest.slice(slash + 1), value);
  }
  return [...byName].map(([name, { fields }]) => {
    const project = fields.get('project');
    return {
      name,
      url: fields.get(''),
      type: fields.get('type') ?? 'docker',
      // tx.StringList: split at commas, nothing trimmed; an empty string is no project.
      projects: project === undefined || project === '' ? [] : project.split(','),
      username: fields.get('username'),
    };
  });
}

/** What 1d42c726d8a3 cannot move: it raises (or PostgreSQL refuses the row) and the whole upgrade rolls back. */
export function registryProblems(registries: readonly EtcdRegistry[]): RegistryProblem[] {
  const problems: RegistryProblem[] = [];
  for (const r of registries) {
    const key = `${REGISTRY_PREFIX}${r.name}`;
    const add = (suffix: string, reason: string) => problems.push({ name: r.name, key: `${key}${suffix}`, reason });
    if (r.url === undefined || r.url === '') add('', 'has no URL (the value of the registry key itself)');
    else if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]/i.test(r.url)) add('', `has "${r.url.slice(0, 60)}" as its URL, which is no URL`);
    else if (r.url.length > LIMITS.url) add('', `has a URL of ${r.url.length} characters; container_registries.url takes ${LIMITS.url}`);
    if (!(REGISTRY_TYPES as readonly string[]).includes(r.type)) add('/type', `has type "${r.type}"; 24.09 knows ${REGISTRY_TYPES.join(', ')}`);
    if (r.projects.length === 0 && !(r.type === 'docker' && r.name === DOCKER_HUB) && r.type !== 'local') {
      add('/project', 'has no project, which 24.09 requires of every registry but Docker Hub and local ones: put its project name(s), comma-separated, there');
    }
    if (r.name.length > LIMITS.registryName) add('', `has a name of ${r.name.length} characters; container_registries.registry_name takes ${LIMITS.registryName}`);
    for (const p of r.projects) {
      if (p === '') add('/project', `has an empty name in its project list "${r.projects.join(',')}", on which 24.09 stops`);
      else if (p.trim() !== p)
        add('/project', `has the project "${p}" with spaces around it: 24.09 keeps them, so no image matches that row, and its images get a row of their own without the credentials`);
      else if (p.length > LIMITS.project) add('/project', `has a project of ${p.length} characters; container_registries.project takes ${LIMITS.project}`);
    }
    if (r.username && r.username.length > LIMITS.username) add('/username', `has a username of ${r.username.length} characters; container_registries.username takes ${LIMITS.username}`);
  }
  return problems;
}

/** The rows the revision makes of the registries: one per project; Docker Hub without one gets "library", local none. */
export function registryRows(registries: readonly EtcdRegistry[]): RegistryRow[] {
  return registries.flatMap((r): RegistryRow[] =>
    r.projects.length > 0 ? r.projects.map((project) => ({ name: r.name, project })) : [{ name: r.name, project: r.type === 'local' ? null : 'library' }],
  );
}

/** A container_registries row as the whole revision leaves it. */
export interface MovedRow extends RegistryRow {
  readonly type: string;
  /** Made by the revision itself for images whose project no registry lists: no credentials. */
  readonly automatic: boolean;
  /** The images linked to it. */
  readonly images: readonly string[];
}

/** What 1d42c726d8a3 will make of the registries and the images, or where it stops. */
export interface RegistryMove {
  readonly rows: readonly MovedRow[];
  /** Its last phase looks up the one registry of type local and stops when there are several (MultipleResultsFound). */
  readonly stopsOnLocalRows?: readonly MovedRow[];
  /** Images whose registry row is known but whose project another registry's automatic row took: they end up local. */
  readonly localDespiteRegistry: readonly string[];
}

/**
 * The revision's four phases, in its order, on the registries (etcd's order) and the image names
 * (the table's physical order, `ORDER BY ctid`, as its unordered SELECTs return them):
 * 1. a row per registry and project (migrate_data_etcd_to_psql);
 * 2. each row with a project takes the images whose name starts with `name/project`, later rows
 *    overriding earlier ones (insert_registry_id_to_images);
 * 3. an image still without a row, named `registry/project/…` after a registry that has a row, makes
 *    a row of that registry's first row's type for its project, without credentials, once per
 *    project name across all registries (insert_registry_id_to_images_with_missing_registry_id);
 * 4. the one row of type local (made when there is none: the revision tests its query's result
 *    object, which is always true) takes every image left (mark_local_images_with_missing_registry_id).
 * Its prefix tests are SQL LIKE patterns, unescaped: `_` and `%` in a name match any character.
 */
export function simulateRegistryMove(registries: readonly EtcdRegistry[], imageNames: readonly string[]): RegistryMove {
  type Row = { name: string; project: string | null; type: string; automatic: boolean };
  const rows: Row[] = registries.flatMap((r) =>
    r.projects.length > 0
      ? r.projects.map((project) => ({ name: r.name, project, type: r.type, automatic: false }))
      : [{ name: r.name, project: r.type === 'local' ? null : 'library', type: r.type, automatic: false }],
  );
  const linked = new Map<string, Row>();
  for (const row of rows) {
    const project = row.project ?? (row.name === 'index.docker.io' ? 'library' : null);
    if (!project) continue;
    const prefix = likePrefix(`${row.name}/${project}`);
    for (const image of imageNames) if (prefix.test(image)) linked.set(image, row);
  }
  const addedProjects = new Set<string>();
  const localDespiteRegistry: string[] = [];
  for (const image of imageNames.filter((name) => !linked.has(name))) {
    if (linked.has(image)) continue;
    const [registryName, project] = image.split('/');
    if (project === undefined) continue;
    const first = rows.find((r) => r.name === registryName);
    if (!first) continue;
    if (addedProjects.has(project)) {
      localDespiteRegistry.push(image);
      continue;
    }
    addedProjects.add(project);
    const row: Row = { name: registryName!, project, type: first.type, automatic: true };
    rows.push(row);
    const prefix = likePrefix(`${registryName}/${project}`);
    for (const other of imageNames) if (!linked.has(other) && prefix.test(other)) linked.set(other, row);
  }
  const local = rows.filter((r) => r.type === 'local');
  const withImages = (row: Row): MovedRow => ({ ...row, images: imageNames.filter((name) => linked.get(name) === row) });
  if (local.length > 1) return { rows: rows.map(withImages), stopsOnLocalRows: local.map(withImages), localDespiteRegistry: [] };
  const localRow = local[0] ?? { name: 'local', project: null, type: 'local', automatic: true };
  if (local.length === 0) rows.push(localRow);
  for (const image of imageNames) if (!linked.has(image)) linked.set(image, localRow);
  return { rows: rows.map(withImages), localDespiteRegistry: localDespiteRegistry.filter((image) => linked.get(image) === localRow) };
}

/** A SQL `LIKE 'prefix%'` without escapes, as a regular expression. */
function likePrefix(prefix: string): RegExp {
  const pattern = [...prefix].map((c) => (c === '_' ? '.' : c === '%' ? '.*' : c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&'))).join('');
  return new RegExp(`^${pattern}`, 's');
}
