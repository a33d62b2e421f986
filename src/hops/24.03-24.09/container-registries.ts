/**
 * 24.09 keeps container registries in PostgreSQL. Its revision 1d42c726d8a3 reads etcd
 * config/docker/registry through the manager's own configuration (manager.toml, validated by 24.09),
 * makes a container_registries row per registry and project, links every image to one, and deletes
 * the etcd prefix from a thread before its transaction commits
 * (backend.ai@24.09.14:src/ai/backend/manager/models/alembic/versions/1d42c726d8a3_migrate_container_registries_from_etcd_to_psql.py).
 * A later failure in the same transaction rolls PostgreSQL back, but not etcd: the registries,
 * their credentials with them, would be gone, and a re-run would move nothing.
 *
 * Two steps around the schema step. Before it, `container-registries` refuses what the revision
 * would stop on, checks manager.toml with 24.09's own loader, keeps the prefix in the backup bundle
 * and in PostgreSQL, and puts it back in etcd when an interrupted run left it deleted. After it,
 * `registries-moved` proves the move.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Deployment } from '../../stores/deployment.js';
import { tableExists, columnExists } from '../../stores/schema.js';
import { cannotKeepDroppedValues, DROPPED_VALUES, keepEtcdKeys, keptEtcdKeys, mayKeepDroppedValues } from '../../stores/dropped-values.js';
import { pythonOf } from '../../manager/apply-revisions.js';
import { loadManagerConfig } from '../../manager/config-load.js';
import { changed, failed, firstFew, ok, REHEARSAL_FINDS_IT, skipped, warning, type Finding, type Step, type StepContext } from '../../steps/step.js';
import { parseRegistries, REGISTRIES_MOVED_BY, REGISTRY_PREFIX, registryProblems, registryRows, simulateRegistryMove, type EtcdRegistry, type RegistryRow } from './registry-config.js';

const describeRows = (rows: readonly RegistryRow[]) => firstFew(rows, (r) => `${r.name}${r.project === null ? ' (local)' : `/${r.project}`}`);

/** Whether 1d42c726d8a3 has run: its table exists. */
const moved = (deployment: Deployment) => tableExists(deployment.postgres, 'container_registries');

export const containerRegistries: Step = {
  id: 'container-registries',
  title: 'Container registries before 24.09 moves them',
  kind: 'change',
  action: `Checks etcd ${REGISTRY_PREFIX} for what 24.09's ${REGISTRIES_MOVED_BY} requires, keeps a copy of it in the backup bundle and in PostgreSQL, and puts it back in etcd if an interrupted run left it deleted.`,
  servers: ['etcd', 'postgres'],

  async preflight(ctx) {
    const { deployment } = ctx;
    const entries = await deployment.etcdPrefix(REGISTRY_PREFIX);
    const findings: Finding[] = [...(await configFindings(ctx))];
    if (Object.keys(entries).length === 0) {
      findings.push(await emptyPrefixFinding(deployment));
      return findings;
    }
    const registries = parseRegistries(entries);
    const problems = registryProblems(registries);
    for (const p of problems) findings.push(failed(`registry ${p.name}: ${p.key} ${p.reason}; ${REGISTRIES_MOVED_BY} would stop the upgrade on it`));
    if (problems.length === 0) findings.push(...moveFindings(registries, await imageNames(deployment)));
    if (!(await mayKeepDroppedValues(deployment.postgres))) findings.push(warning(await cannotKeepDroppedValues(deployment.postgres, `${REGISTRIES_MOVED_BY} deletes etcd ${REGISTRY_PREFIX}`)));
    return findings;
  },

  async dryRun({ deployment }) {
    const entries = await deployment.etcdPrefix(REGISTRY_PREFIX);
    if (Object.keys(entries).length === 0) return [await emptyPrefixFinding(deployment)];
    const move = simulateRegistryMove(parseRegistries(entries), await imageNames(deployment));
    return [ok(`would keep ${Object.keys(entries).length} key(s) of etcd ${REGISTRY_PREFIX} in ${DROPPED_VALUES}; ${REGISTRIES_MOVED_BY} then makes ${rowsOf(move.rows)}`)];
  },

  async backup({ deployment }) {
    const entries = await deployment.etcdPrefix(REGISTRY_PREFIX);
    if (Object.keys(entries).length === 0) return undefined;
    return { name: 'etcd-container-registries.json', content: JSON.stringify(entries, null, 2) };
  },

  // The backup bundle may be pruned; PostgreSQL keeps the prefix too, and is where apply finds it after an interruption.
  async carryForward({ deployment }) {
    const entries = await deployment.etcdPrefix(REGISTRY_PREFIX);
    if (Object.keys(entries).length === 0) return undefined;
    const kept = await keepEtcdKeys(deployment.postgres, REGISTRY_PREFIX, entries, REGISTRIES_MOVED_BY);
    return ok(`${kept} key(s) of etcd ${REGISTRY_PREFIX} kept in PostgreSQL as ${DROPPED_VALUES} (alembic ${REGISTRIES_MOVED_BY} deletes them)`);
  },

  async pending({ deployment }) {
    return (await interrupted(deployment)) !== undefined;
  },

  async apply({ deployment, settings }) {
    // The revision writes its own copy there (BACKEND_ETCD_BACKUP_PATH), and stops when it cannot.
    await mkdir(resolve(settings.backupDir), { recursive: true, mode: 0o700 });
    const kept = await interrupted(deployment);
    if (!kept) return ok(`nothing to put back: etcd ${REGISTRY_PREFIX} is as it was; the schema step's ${REGISTRIES_MOVED_BY} moves it`);
    const etcd = deployment.etcd;
    const keys = Object.entries(kept);
    for (let i = 0; i < keys.length; i += 64) {
      await deployment.bounded('etcd', Promise.all(keys.slice(i, i + 64).map(([key, value]) => etcd.put(key).value(value).exec())));
    }
    return changed(
      `put back ${keys.length} key(s) of etcd ${REGISTRY_PREFIX} from ${DROPPED_VALUES}: a run interrupted after ${REGISTRIES_MOVED_BY} had deleted them, and PostgreSQL had rolled the move back`,
    );
  },

  async verify({ deployment }) {
    if (await moved(deployment)) return [ok(`${REGISTRIES_MOVED_BY} has run: registries-moved checks container_registries`)];
    const [entries, kept] = await Promise.all([deployment.etcdPrefix(REGISTRY_PREFIX), keptEtcdKeys(deployment.postgres, REGISTRY_PREFIX)]);
    const missing = Object.keys(kept).filter((key) => !(key in entries));
    return [
      missing.length === 0
        ? ok(`etcd ${REGISTRY_PREFIX} holds ${Object.keys(entries).length} key(s), every kept one among them`)
        : failed(`${missing.length} kept key(s) are not in etcd ${REGISTRY_PREFIX}: ${firstFew(missing, (k) => k)}`),
    ];
  },
};

export const registriesMoved: Step = {
  id: 'registries-moved',
  title: 'Container registries in PostgreSQL',
  kind: 'change',
  action: `Checks that ${REGISTRIES_MOVED_BY} made a container_registries row for every registry and project of etcd ${REGISTRY_PREFIX}, linked every image to one, and deleted the prefix; changes nothing.`,
  servers: ['etcd', 'postgres'],
  tables: ['container_registries', 'images'],

  async apply({ deployment }) {
    if (!(await moved(deployment))) return failed(`container_registries does not exist: the schema step did not run ${REGISTRIES_MOVED_BY}`);
    const { rows } = await deployment.postgres.query<{ count: string }>('SELECT count(*) FROM container_registries');
    return ok(`${REGISTRIES_MOVED_BY} moved the registries: container_registries holds ${rows[0]!.count} row(s)`);
  },

  async verify({ deployment }) {
    if (!(await moved(deployment))) return [failed(`container_registries does not exist: ${REGISTRIES_MOVED_BY} has not run`)];
    const pg = deployment.postgres;
    const findings: Finding[] = [];
    const expected = registryRows(parseRegistries(await keptEtcdKeys(pg, REGISTRY_PREFIX)));
    const { rows } = await pg.query<{ name: string; project: string | null }>('SELECT registry_name AS name, project FROM container_registries');
    const missing = expected.filter((e) => !rows.some((r) => r.name === e.name && r.project === e.project));
    findings.push(
      missing.length === 0
        ? ok(`every registry and project of the kept etcd ${REGISTRY_PREFIX} (${expected.length}) has its container_registries row; ${rows.length} row(s) in all`)
        : failed(`${missing.length} registry row(s) are missing from container_registries: ${describeRows(missing)}`),
    );
    if (await columnExists(pg, 'images', 'registry_id')) {
      const { rows: unlinked } = await pg.query<{ count: string }>('SELECT count(*) FROM images WHERE registry_id IS NULL');
      const count = Number(unlinked[0]!.count);
      findings.push(count === 0 ? ok('every image has its registry_id') : failed(`${count} image(s) have no registry_id`));
    }
    const left = Object.keys(await deployment.etcdPrefix(REGISTRY_PREFIX));
    findings.push(left.length === 0 ? ok(`etcd ${REGISTRY_PREFIX} is gone, as 24.09 expects`) : warning(`etcd ${REGISTRY_PREFIX} still holds ${left.length} key(s), which 24.09 no longer reads`));
    return findings;
  },
};

function rowsOf(rows: readonly RegistryRow[]): string {
  return `${rows.length} container_registries row(s): ${describeRows(rows)}`;
}

/** The images table's names in its physical order, which the revision's unordered SELECTs follow. */
async function imageNames(deployment: Deployment): Promise<string[]> {
  if (!(await tableExists(deployment.postgres, 'images'))) return [];
  const { rows } = await deployment.postgres.query<{ name: string }>('SELECT name FROM images ORDER BY ctid');
  return rows.map((r) => r.name);
}

/** What the revision will make, exactly, and where it would stop or surprise. */
function moveFindings(registries: readonly EtcdRegistry[], images: readonly string[]): Finding[] {
  const move = simulateRegistryMove(registries, images);
  const named = (rows: readonly { name: string; project: string | null; images: readonly string[] }[]) =>
    firstFew(rows, (r) => `${r.name}${r.project === null ? '' : `/${r.project}`} (${r.images.length} image${r.images.length === 1 ? '' : 's'})`);
  if (move.stopsOnLocalRows) {
    const local = move.stopsOnLocalRows.filter((r) => !r.automatic).map((r) => r.name);
    const byImages = move.stopsOnLocalRows.filter((r) => r.automatic);
    return [
      failed(
        `${REGISTRIES_MOVED_BY} would stop with MultipleResultsFound, rolling the upgrade back: it makes ${move.stopsOnLocalRows.length} container_registries rows of type local (${named(move.stopsOnLocalRows)}) and then looks up the one local registry. ` +
          `The extra rows come from images named after the local registry ${local.join(', ')} with a path under it (${firstFew(
            byImages.flatMap((r) => r.images),
            (i) => i,
            { limit: 3 },
          )}), for which it makes a row of their own. Move ${local.map((name) => `etcd ${REGISTRY_PREFIX}${name}`).join(', ')} aside before migrating (the backup bundle keeps it): the revision then makes one local row and marks those images local. ${REHEARSAL_FINDS_IT}`,
      ),
    ];
  }
  const findings: Finding[] = [ok(`${registries.length} registr${registries.length === 1 ? 'y' : 'ies'} in etcd ${REGISTRY_PREFIX} and ${images.length} image(s) become ${rowsOf(move.rows)}`)];
  const automatic = move.rows.filter((r) => r.automatic && r.type !== 'local');
  if (automatic.length > 0) {
    findings.push(
      warning(
        `${REGISTRIES_MOVED_BY} also makes ${automatic.length} row(s) by itself, without credentials, for images whose project no registry in etcd lists: ${named(automatic)}; after the migration give them credentials if those registries need them (or add the projects to the registry's project list in etcd before migrating)`,
      ),
    );
  }
  if (move.localDespiteRegistry.length > 0) {
    findings.push(
      warning(
        `${move.localDespiteRegistry.length} image(s) end up in the local registry although their registry is known (${firstFew(move.localDespiteRegistry, (i) => i, { limit: 3 })}): ${REGISTRIES_MOVED_BY} makes one row per project name across all registries, and another registry's row took theirs`,
      ),
    );
  }
  return findings;
}

/**
 * The kept prefix when a run was interrupted between the revision's delete and its commit: etcd
 * holds none of it, container_registries does not exist, and bai-migrate kept a copy.
 */
async function interrupted(deployment: Deployment): Promise<Record<string, string> | undefined> {
  if (await moved(deployment)) return undefined;
  const entries = await deployment.etcdPrefix(REGISTRY_PREFIX);
  if (Object.keys(entries).length > 0) return undefined;
  const kept = await keptEtcdKeys(deployment.postgres, REGISTRY_PREFIX);
  return Object.keys(kept).length > 0 ? kept : undefined;
}

async function emptyPrefixFinding(deployment: Deployment): Promise<Finding> {
  if (await moved(deployment)) return ok(`etcd ${REGISTRY_PREFIX} is empty and container_registries exists: ${REGISTRIES_MOVED_BY} has run`);
  const kept = await keptEtcdKeys(deployment.postgres, REGISTRY_PREFIX);
  if (Object.keys(kept).length > 0) {
    return warning(
      `etcd ${REGISTRY_PREFIX} is empty, but container_registries does not exist: a run was interrupted after ${REGISTRIES_MOVED_BY} deleted the prefix and before its transaction committed; migrate puts the ${Object.keys(kept).length} kept key(s) back first`,
    );
  }
  return warning(`etcd ${REGISTRY_PREFIX} holds no registry: ${REGISTRIES_MOVED_BY} makes a row per registry and project the images name (without credentials) and marks the other images local`);
}

/** The revision reads manager.toml (24.09's loader validates all of it) and etcd through it. */
async function configFindings(ctx: StepContext): Promise<Finding[]> {
  const config = ctx.deployment.targets.managerConfig?.path;
  if (!config) {
    return [failed(`${REGISTRIES_MOVED_BY} reads etcd through manager.toml, and no manager.toml was given or found; accepted: manager-config, the path of the deployment's manager.toml`)];
  }
  let python: string;
  try {
    python = await pythonOf(ctx.alembic);
  } catch {
    // With manager-venv, only a dry run gets here (it makes no venv).
    if (ctx.venvToMake) {
      return [skipped(`manager.toml (${config}) is checked against 24.09 in the 24.09 venv that preflight or migrate makes in ${ctx.venvToMake.dir}: not checked here (a dry run makes no venv)`)];
    }
    return [warning(`manager.toml (${config}) is not checked against 24.09: alembic-command does not say which Python runs it; ${REGISTRIES_MOVED_BY} loads it with 24.09's validation`)];
  }
  // The revision runs from bai-migrate's working folder and finds the file through BACKEND_CONFIG_FILE.
  const path = resolve(config);
  const loaded = await loadManagerConfig(python, path, { cwd: process.cwd(), env: { BACKEND_CONFIG_FILE: path } });
  switch (loaded.state) {
    case 'loads':
      return [ok(`manager.toml (${config}) passes 24.09's validation, which ${REGISTRIES_MOVED_BY} loads it with`)];
    case 'no-package':
      return [
        warning(
          `manager.toml (${config}) is not checked against 24.09: alembic's Python (${python}) has no backend.ai-manager to load it with; ${REGISTRIES_MOVED_BY} loads it with 24.09's validation`,
        ),
      ];
    case 'refused': {
      // The revision itself loads the file on this runner: a path it lacks stops it too.
      const said = loaded.keys.map((k) => `${k.key} (${k.reason})`).join('; ');
      return [failed(`manager.toml (${config}) does not pass 24.09's validation, which ${REGISTRIES_MOVED_BY} loads it with: ${said.slice(0, 600)}`)];
    }
    default:
      return [failed(`manager.toml (${config}) could not be loaded with 24.09's loader, which ${REGISTRIES_MOVED_BY} loads it with: ${loaded.detail}`)];
  }
}
