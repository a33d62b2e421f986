/**
 * From 23.09 the manager will not start without `[manager] rpc-auth-manager-keypair` naming an
 * existing regular file (the key pair of the manager-agent RPC), "a mandatory option even when no
 * agents require authentication"; unset, it defaults to fixtures/manager/manager.key_secret under
 * the manager's working directory (backend.ai@23.09.10:src/ai/backend/manager/config.py,
 * configs/manager/sample.toml). Every manager command that reads manager.toml fails without it,
 * including, later, 24.09's revision 1d42c726d8a3.
 *
 * Unset, migrate makes the key pair with the target manager's own `backend.ai mgr
 * generate-rpc-keypair DIR manager` in rpc-keypair/ beside manager.toml, owned like manager.toml,
 * and names it there. A path manager.toml already names is checked, never replaced.
 */
import { existsSync, statSync } from 'node:fs';
import { chown, mkdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isTable, parseToml, type TomlValue } from '../../manager/toml.js';
import { backupManagerToml, currentConfig, dryRunSetting, writeSetting } from '../../steps/manager-toml.js';
import { lastLines, requireSuccess, runManagerCli } from '../../manager/cli.js';
import { failed, ok, skipped, warning, type Finding, type Step, type StepContext } from '../../steps/step.js';

const TABLE = 'manager';
const KEY = 'rpc-auth-manager-keypair';
const NAME = `[${TABLE}] ${KEY}`;
const GENERATE = ['mgr', 'generate-rpc-keypair'];
/** What generate-rpc-keypair DIR manager writes: manager.key and manager.key_secret (ZeroMQ CURVE certificates). */
const KEYPAIR_NAME = 'manager';

function configured(text: string): TomlValue | undefined {
  const section = parseToml(text)[TABLE];
  return isTable(section) ? section[KEY] : undefined;
}

/** Where migrate makes the key pair when manager.toml names none. */
function generatedPath(configPath: string): string {
  return join(dirname(resolve(configPath)), 'rpc-keypair', `${KEYPAIR_NAME}.key_secret`);
}

interface State {
  readonly path: string;
  /** The value in manager.toml, or undefined. */
  readonly value?: TomlValue;
  /** The file the manager would read: the value (a relative one taken beside manager.toml), or the one migrate makes. */
  readonly file: string;
  readonly exists: boolean;
}

async function examine(ctx: StepContext): Promise<State | undefined> {
  if (!ctx.deployment.targets.managerConfig) return undefined;
  const { path, text } = await currentConfig(ctx);
  const value = configured(text);
  const file = typeof value === 'string' ? resolve(dirname(resolve(path)), value) : generatedPath(path);
  return { path, value, file, exists: existsSync(file) && statSync(file).isFile() };
}

const noConfig = () => failed(`23.09 needs ${NAME} in manager.toml, and no manager.toml was found: set manager-config`);

/** With manager-venv in a check, the CLI is in a venv migrate is still to make. */
function cliNotMadeYet(ctx: StepContext): boolean {
  return ctx.venvToMake?.managerCli ?? false;
}

export const rpcKeypair: Step = {
  id: 'rpc-keypair',
  title: 'Manager RPC key pair ([manager] rpc-auth-manager-keypair)',
  kind: 'change',
  action: `Checks that ${NAME} names an existing key file; when manager.toml names none, makes one with the manager's generate-rpc-keypair beside manager.toml and names it there.`,
  servers: [],

  async preflight(ctx) {
    const state = await examine(ctx);
    if (!state) return [noConfig()];
    if (state.value !== undefined && typeof state.value !== 'string') return [failed(`${state.path} has ${NAME} = ${String(state.value)}, which is no path`)];
    if (state.value !== undefined) {
      if (!state.exists) {
        return [
          failed(
            `${state.path} has ${NAME} = "${state.value}", which does not exist (${state.file}); 23.09 will not start: make it with backend.ai mgr generate-rpc-keypair <dir> manager, or remove the line and let migrate make one`,
          ),
        ];
      }
      const relative = isAbsolute(state.value)
        ? []
        : [
            warning(
              `"${state.value}" is relative: the manager resolves it from its working directory, and bai-migrate found it beside manager.toml (${state.file}); an absolute path avoids the difference`,
            ),
          ];
      return [ok(`${NAME} names ${state.file}, which exists`), ...relative];
    }
    if (state.exists) return [ok(`${NAME} is unset; migrate will name the key pair an earlier run made, ${state.file}`)];
    if (cliNotMadeYet(ctx)) return [skipped(`${NAME} is unset; migrate will make ${state.file} with generate-rpc-keypair of the manager venv it makes: not checked here`)];
    const help = [...GENERATE, '--help'];
    const result = await runManagerCli(ctx.managerCli, help);
    if (result.exitCode !== 0) {
      return [
        failed(
          `${NAME} is unset, and making a key pair needs the ${ctx.hop.to.version} manager's CLI, but "${ctx.managerCli.command.join(' ')} ${help.join(' ')}" failed (exit ${result.exitCode}): ${lastLines(result.output)}; set manager-command or manager-venv, or set ${KEY} yourself`,
        ),
      ];
    }
    return [ok(`${NAME} is unset (23.09 requires it): migrate will make ${state.file} with ${ctx.managerCli.command.join(' ')} ${GENERATE.join(' ')} and name it in ${state.path}`)];
  },

  async dryRun(ctx) {
    const state = await examine(ctx);
    if (!state) return [noConfig()];
    if (state.value !== undefined) return [ok(`${NAME} already names ${state.file}: nothing to do`)];
    const finding = await dryRunSetting(ctx, TABLE, KEY, state.file);
    return [{ ...finding, detail: `${state.exists ? 'would name the key pair an earlier run made' : `would make ${state.file} with generate-rpc-keypair`}; ${finding.detail}` }];
  },

  async backup(ctx) {
    const state = await examine(ctx);
    return state && state.value === undefined ? backupManagerToml(ctx) : undefined;
  },

  async pending(ctx) {
    const state = await examine(ctx);
    return state !== undefined && state.value === undefined;
  },

  async apply(ctx): Promise<Finding> {
    const state = await examine(ctx);
    if (!state) return noConfig();
    if (state.value !== undefined) return state.exists ? ok(`${NAME} already names ${state.file}`) : failed(`${NAME} names ${state.file}, which does not exist`);
    let made = '';
    // A run killed after making the key pair names the same one.
    if (!state.exists) {
      const dir = dirname(state.file);
      const owner = await stat(state.path);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const args = [...GENERATE, dir, KEYPAIR_NAME];
      requireSuccess(ctx.managerCli, args, await runManagerCli(ctx.managerCli, args));
      // The manager runs as the owner of its config (a service user), and must read its key.
      for (const file of [dir, state.file, join(dir, `${KEYPAIR_NAME}.key`)]) await chown(file, owner.uid, owner.gid).catch(() => undefined);
      made = `made ${state.file} with generate-rpc-keypair; `;
    }
    const written = await writeSetting(ctx, TABLE, KEY, state.file);
    return { ...written, detail: `${made}${written.detail}` };
  },

  async verify(ctx) {
    const state = await examine(ctx);
    if (!state) return [noConfig()];
    if (state.value === undefined) return [failed(`${NAME} is unset; 23.09 will not start without it`)];
    return [state.exists ? ok(`${NAME} names ${state.file}, which exists`) : failed(`${NAME} names ${state.file}, which does not exist`)];
  },
};
