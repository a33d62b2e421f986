/**
 * 22.03 adds [manager] distributed-lock. The guide says the new default is etcd, but the code
 * defaults to pg_advisory from 22.03.2 on (MGR#592; reference §5.3), so the value is written
 * explicitly when the operator chooses one.
 */
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { isTable, parseToml } from '../engine/toml.js';
import { setTomlString } from '../engine/toml-edit.js';
import { changed, failed, ok, type Step, type StepContext } from './step.js';

const DEFAULT_NOTE = 'the upgrade guide says the default is etcd, but the manager defaults to pg_advisory from 22.03.2 (etcd only in 22.03.0 and 22.03.1)';

export const distributedLock: Step = {
  id: 'distributed-lock',
  title: '[manager] distributed-lock in manager.toml',
  kind: 'change',
  action: 'Writes the chosen lock backend to [manager] distributed-lock in manager.toml, keeping its comments and layout.',
  servers: [],

  async preflight({ options, deployment }) {
    const backend = options.lockBackend;
    const config = deployment.targets.managerConfig;
    const manager = config?.table.manager;
    const current = isTable(manager) ? manager['distributed-lock'] : undefined;
    if (!backend) {
      return [ok(`lock-backend not set: distributed-lock stays ${current === undefined ? 'unset' : `"${String(current)}"`}; ${DEFAULT_NOTE}`)];
    }
    if (backend === 'redlock') {
      return [failed('lock-backend "redlock" is not supported by Backend.AI 22.03; accepted: filelock, pg_advisory, etcd')];
    }
    if (!config) {
      return [failed(`lock-backend "${backend}" must be written to manager.toml, but no manager.toml was found: set manager-config`)];
    }
    return [ok(`distributed-lock will be "${backend}" in ${config.path} (now ${current === undefined ? 'unset' : `"${String(current)}"`}); ${DEFAULT_NOTE}`)];
  },

  async dryRun(ctx) {
    if (!ctx.options.lockBackend) return [ok('lock-backend not set: manager.toml stays as it is')];
    const { path, text } = await currentConfig(ctx);
    const next = setTomlString(text, 'manager', 'distributed-lock', ctx.options.lockBackend);
    if (next === text) return [ok(`${path} already has distributed-lock = "${ctx.options.lockBackend}"`)];
    return [{ status: 'ok', detail: `would set [manager] distributed-lock = "${ctx.options.lockBackend}" in ${path}`, attachment: { name: 'manager.toml diff', content: lineDiff(text, next) } }];
  },

  async backup(ctx) {
    if (!ctx.options.lockBackend || !ctx.deployment.targets.managerConfig) return undefined;
    return { name: 'manager.toml', content: (await currentConfig(ctx)).text };
  },

  async apply(ctx) {
    const backend = ctx.options.lockBackend;
    if (!backend) return ok('lock-backend not set: manager.toml left as it is');
    const { path, text } = await currentConfig(ctx);
    const next = setTomlString(text, 'manager', 'distributed-lock', backend);
    if (next === text) return ok(`already distributed-lock = "${backend}" in ${path}`);
    // Write beside the file and rename over it: a crash leaves the old file or the new one, never half.
    const temporary = `${path}.bai-migrate.tmp`;
    await writeFile(temporary, next, { mode: (await stat(path)).mode & 0o777 });
    await rename(temporary, path);
    return changed(`[manager] distributed-lock = "${backend}" written to ${path}`);
  },

  async verify(ctx) {
    const { options } = ctx;
    if (!options.lockBackend) return [ok('lock-backend not set: nothing to verify')];
    const manager = parseToml((await currentConfig(ctx)).text).manager;
    const current = isTable(manager) ? manager['distributed-lock'] : undefined;
    return [
      current === options.lockBackend
        ? ok(`[manager] distributed-lock is "${current}"`)
        : failed(`[manager] distributed-lock is ${current === undefined ? 'unset' : `"${String(current)}"`}; expected "${options.lockBackend}"`),
    ];
  },
};

/** manager.toml as it is on disk now (the copy read at start may be stale after apply). */
async function currentConfig(ctx: StepContext): Promise<{ path: string; text: string }> {
  const config = ctx.deployment.targets.managerConfig;
  if (!config) throw new Error('no manager.toml: set manager-config');
  return { path: config.path, text: await readFile(config.path, 'utf8') };
}

function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (a[i] === b[j]) {
      i++;
      j++;
    } else if (b[j] !== undefined && !a.slice(i).includes(b[j]!)) {
      out.push(`+ ${b[j++]}`);
    } else {
      out.push(`- ${a[i++]}`);
    }
  }
  return out.join('\n');
}
