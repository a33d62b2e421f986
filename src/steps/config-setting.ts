/**
 * A step kind: one key of manager.toml that an input sets. Unset, the file stays as it is (and the
 * value already there is still judged against the target release); set, apply changes that one
 * line or adds it beside its commented-out default, keeping the operator's comments and layout
 * (manager/toml-edit.ts), and verify reads the file back.
 */
import { isTable, parseToml, type TomlTable, type TomlValue } from '../manager/toml.js';
import { backupManagerToml, currentConfig, dryRunSetting, writeSetting } from './manager-toml.js';
import { failed, ok, skipped, type Finding, type Step, type StepContext } from './step.js';

export interface ConfigSettingSpec<V extends string | boolean> {
  readonly id: string;
  readonly title: string;
  /** What the step does, for the plan. */
  readonly action: string;
  readonly table: string;
  readonly key: string;
  /** The input that sets the value, for messages. */
  readonly input: string;
  /** The value the operator asked for; undefined leaves manager.toml as it is. */
  value(ctx: StepContext): V | undefined;
  /** Why the change matters, added to preflight's findings. */
  readonly why: string;
  /** How preflight reports an unset input: ok when the file's value (or the default) is fine as it is, skipped when nothing is decided. */
  readonly unsetStatus: 'ok' | 'skipped';
  /** Why a value (asked for, or already in the file) cannot serve the hop's target release; undefined when it can. */
  problem?(value: TomlValue, ctx: StepContext): string | undefined;
}

const show = (value: TomlValue | undefined): string => (value === undefined ? 'unset' : typeof value === 'string' ? `"${value}"` : String(value));

export function configSetting<V extends string | boolean>(spec: ConfigSettingSpec<V>): Step {
  const { table, key, input } = spec;
  const name = `[${table}] ${key}`;
  const valueIn = (toml: TomlTable): TomlValue | undefined => {
    const section = toml[table];
    return isTable(section) ? section[key] : undefined;
  };

  return {
    id: spec.id,
    title: spec.title,
    kind: 'change',
    action: spec.action,
    servers: [],

    configEdits(ctx) {
      const wanted = spec.value(ctx);
      return wanted === undefined ? [] : [{ table, key, value: wanted }];
    },

    async preflight(ctx) {
      const wanted = spec.value(ctx);
      const config = ctx.deployment.targets.managerConfig;
      const current = config ? valueIn(config.table) : undefined;
      if (wanted === undefined) {
        const stale = current === undefined ? undefined : spec.problem?.(current, ctx);
        if (stale) return [failed(`${config!.path} has ${name} = ${show(current)}, but ${stale}: set ${input} to one of them`)];
        const stays = spec.unsetStatus === 'ok' ? `${key} stays ${show(current)}; ` : '';
        return [{ status: spec.unsetStatus, detail: `${input} not set: ${stays}${spec.why}` }];
      }
      const refused = spec.problem?.(wanted, ctx);
      if (refused) return [failed(refused)];
      if (!config) return [failed(`${describeInput(input, wanted)} must be written to manager.toml, but no manager.toml was found: set manager-config`)];
      const now = spec.unsetStatus === 'ok' ? ` in ${config.path} (now ${show(current)})` : '';
      return [ok(`${spec.unsetStatus === 'ok' ? key : name} will be ${show(wanted)}${now}; ${spec.why}`)];
    },

    async dryRun(ctx) {
      const wanted = spec.value(ctx);
      if (wanted === undefined) return [skipped(`${input} not set: manager.toml stays as it is`)];
      return [await dryRunSetting(ctx, table, key, wanted)];
    },

    async backup(ctx) {
      if (spec.value(ctx) === undefined || !ctx.deployment.targets.managerConfig) return undefined;
      return backupManagerToml(ctx);
    },

    async apply(ctx): Promise<Finding> {
      const wanted = spec.value(ctx);
      if (wanted === undefined) return skipped(`${input} not set: manager.toml left as it is`);
      return writeSetting(ctx, table, key, wanted);
    },

    async verify(ctx) {
      const wanted = spec.value(ctx);
      if (wanted === undefined) return [skipped(`${input} not set: nothing to verify`)];
      const current = valueIn(parseToml((await currentConfig(ctx)).text));
      return [current === wanted ? ok(`${name} is ${show(current)}`) : failed(`${name} is ${show(current)}; expected ${show(wanted)}`)];
    },
  };
}

/** `lock-backend "etcd"`, or `periodic-sync-stats` for a boolean (its value says nothing more). */
function describeInput(input: string, value: string | boolean): string {
  return typeof value === 'string' ? `${input} "${value}"` : input;
}
