/**
 * Opt-in: the guide's image rescan, `backend.ai mgr image rescan REGISTRY` per registry, run by the
 * target release's manager after bai-migrate's own import. A 22.03 rescan rebuilds each existing
 * row's `resources` from the image labels alone (backend.ai-manager@22.03.3:
 * src/ai/backend/manager/container_registry/base.py, _scan_tag), which drops the limits an admin
 * set (`max`); so the limits are read first (from PostgreSQL, and from etcd's tree while it is
 * there) and put back afterwards. prune-etcd-images runs after this step, so a run that dies
 * between the rescan and the putting back still finds the limits in etcd next time.
 */
import type { Deployment } from '../../stores/deployment.js';
import { hiddenRescanFailure, imageRescanArgs, lastLines, requireConnectedSuccess, runManagerCli } from '../../manager/cli.js';
import { MigrationError } from '../../core/errors.js';
import { unreadableServerVersion } from '../../steps/manager-connects.js';
import { serverVersion } from '../../stores/schema.js';
import { readImageTree } from './image-metadata.js';
import { tableExists } from '../../stores/schema.js';
import { join } from 'node:path';
import { releaseVenvDir } from '../../manager/venv.js';
import { targetRelease } from '../../releases/catalogue.js';
import { knownRegistries } from './image-tree.js';
import { changed, failed, ok, skipped, warning, type Step, type StepContext } from '../../steps/step.js';

/** "name|architecture" → resource slot → its admin-set maximum. */
export type AdminLimits = Map<string, Record<string, string>>;

export const imageRescan: Step = {
  id: 'image-rescan',
  title: 'Registry rescan',
  kind: 'change',
  action: "With image-rescan: true, runs the manager's registry rescan for every registry in etcd config/docker/registry, then puts back the admin-set resource limits it overwrites.",
  servers: ['etcd', 'postgres'],
  tables: ['images'],

  async preflight(ctx) {
    if (!ctx.settings.imageRescan) return [skipped('not requested: images come from etcd only; a rescan can be run later')];
    const registries = await registryNames(ctx.deployment);
    // The CLI connects the way the manager does, and some releases cannot (steps/manager-connects.ts);
    // a warning, not a refusal: a deployment that runs such a release on such a server has patched it.
    const unreadable = unreadableServerVersion(ctx.hop.to.version, await serverVersion(ctx.deployment.postgres));
    const connects = unreadable
      ? [
          warning(
            `image-rescan runs the ${ctx.hop.to.version} manager's CLI, but ${unreadable}: unless your manager is patched, the rescan will fail; leave image-rescan off and rescan later with a release that has the fix`,
          ),
        ]
      : [];
    if (ctx.venvToMake?.managerCli) {
      return [
        skipped(
          `the rescan will run ${join(releaseVenvDir(ctx.venvToMake.dir, targetRelease(ctx.settings.toVersion!).version), 'bin', 'backend.ai')} from the manager venv preflight or migrate makes: not checked here; it will rescan ${registries.join(', ')}`,
        ),
        ...connects,
      ];
    }
    const help = [...imageRescanArgs(ctx.hop.to.line, '').slice(0, -1), '--help'];
    const result = await runManagerCli(ctx.managerCli, help);
    if (result.exitCode !== 0) {
      return [
        failed(
          `image-rescan needs the ${ctx.hop.to.version} manager's CLI, but "${ctx.managerCli.command.join(' ')} ${help.join(' ')}" failed (exit ${result.exitCode}): ${lastLines(result.output)}; set manager-command or manager-venv`,
        ),
        ...connects,
      ];
    }
    return [
      ok(`will rescan ${registries.length} registr${registries.length === 1 ? 'y' : 'ies'} (${registries.join(', ')}) with ${ctx.managerCli.command.join(' ')}, then put back admin-set limits`),
      ...connects,
    ];
  },

  async dryRun(ctx) {
    if (!ctx.settings.imageRescan) return [skipped('not requested')];
    const limits = await adminLimits(ctx.deployment);
    return [ok(`would rescan ${(await registryNames(ctx.deployment)).join(', ')} and put back the admin-set limits of ${limits.size} image(s)`)];
  },

  // A requested rescan runs every time: the manager rewrites the rows, so there is always a change to back up for.
  async pending(ctx) {
    return ctx.settings.imageRescan;
  },

  async apply(ctx) {
    if (!ctx.settings.imageRescan) return skipped('not requested');
    const limits = await adminLimits(ctx.deployment);
    const registries = await registryNames(ctx.deployment);
    const failures: string[] = [];
    for (const registry of registries) {
      const args = imageRescanArgs(ctx.hop.to.line, registry);
      ctx.log.info(`${ctx.managerCli.command.join(' ')} ${args.join(' ')}`);
      const result = await runManagerCli(ctx.managerCli, args);
      await requireConnectedSuccess(
        ctx.managerCli,
        args,
        result,
        ctx.deployment.postgres,
        `the ${ctx.hop.to.version} manager`,
        'leave image-rescan off and rescan later with a release that has the fix',
      );
      // The manager logs a failed rescan and exits 0: its log is the only sign.
      const hidden = hiddenRescanFailure(ctx.hop.to.line, result.output);
      if (hidden) failures.push(`${registry}: ${hidden}`);
    }
    // Put back what the rescans that did run overwrote, also when another one failed.
    const restored = await putBackAdminLimits(ctx.deployment, limits);
    if (failures.length > 0) {
      throw new MigrationError(
        'inconsistent-state',
        `the manager's rescan failed although ${ctx.managerCli.command.join(' ')} exited 0 (${failures.join('; ')}); the admin-set limits of ${restored} image(s) are put back. Fix the registry and run migrate again: the rescan runs again`,
      );
    }
    return changed(`rescanned ${registries.join(', ')}; put back the admin-set limits of ${restored} image(s) the rescan had reset`);
  },

  async verify(ctx: StepContext) {
    if (!ctx.settings.imageRescan) return [skipped('not requested')];
    const missing = await missingLimits(ctx.deployment, await adminLimits(ctx.deployment));
    return [missing.length === 0 ? ok('every admin-set resource limit is in images.resources') : failed(`admin-set limits missing for ${missing.slice(0, 5).join(', ')}`)];
  },
};

async function registryNames(deployment: Deployment): Promise<string[]> {
  return [...knownRegistries(await deployment.etcdPrefix('config/docker/registry/'))];
}

/** The limits an admin set: PostgreSQL's rows as they stand, and etcd's tree for rows without. */
export async function adminLimits(deployment: Deployment): Promise<AdminLimits> {
  const limits: AdminLimits = new Map();
  for (const image of (await readImageTree(deployment)).images) {
    const max = maxima(image.resources);
    if (Object.keys(max).length > 0) limits.set(`${image.name}|${image.architecture}`, max);
  }
  // A 21.09 database (a dry run reads it before alembic) has no images table yet: etcd's limits are all there are.
  if (!(await tableExists(deployment.postgres, 'images'))) return limits;
  const { rows } = await deployment.postgres.query<{ name: string; architecture: string; resources: Record<string, { max?: string }> }>('SELECT name, architecture, resources FROM images');
  for (const row of rows) {
    const max = maxima(row.resources);
    if (Object.keys(max).length > 0) limits.set(`${row.name}|${row.architecture}`, max);
  }
  return limits;
}

/** Merges each limit back into its row's resources; returns how many rows changed. */
export async function putBackAdminLimits(deployment: Deployment, limits: AdminLimits): Promise<number> {
  const pg = deployment.postgres;
  const { rows } = await pg.query<{ name: string; architecture: string; resources: Record<string, Record<string, string>> }>('SELECT name, architecture, resources FROM images');
  const updates = rows.flatMap((row) => {
    const max = limits.get(`${row.name}|${row.architecture}`);
    if (!max) return [];
    const resources = { ...row.resources };
    for (const [slot, value] of Object.entries(max)) resources[slot] = { ...resources[slot], max: value };
    return JSON.stringify(resources) === JSON.stringify(row.resources) ? [] : [{ name: row.name, architecture: row.architecture, resources }];
  });
  if (updates.length === 0) return 0;
  const result = await pg.query(
    `UPDATE images SET resources = u.resources
       FROM jsonb_to_recordset($1::jsonb) AS u(name text, architecture text, resources jsonb)
      WHERE images.name = u.name AND images.architecture = u.architecture`,
    [JSON.stringify(updates)],
  );
  return result.rowCount ?? 0;
}

async function missingLimits(deployment: Deployment, limits: AdminLimits): Promise<string[]> {
  const { rows } = await deployment.postgres.query<{ name: string; architecture: string; resources: Record<string, { max?: string }> }>('SELECT name, architecture, resources FROM images');
  const present = new Map(rows.map((r) => [`${r.name}|${r.architecture}`, r.resources]));
  return [...limits].filter(([key, max]) => Object.entries(max).some(([slot, value]) => present.get(key)?.[slot]?.max !== value)).map(([key]) => key.split('|')[0]!);
}

function maxima(resources: Record<string, { max?: string }> | null | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(resources ?? {}).flatMap(([slot, r]) => (r?.max !== undefined ? [[slot, r.max]] : [])));
}
