/**
 * A step kind: one setting of the manager's configuration that an input sets. Where the target
 * release reads it from is release data (releases/merged-config.ts): manager.toml alone up to 25.7,
 * manager.toml merged with etcd from 25.8 (steps/merged-config.ts). Unset, nothing changes, and
 * every value already set (in the file or in etcd) is still judged against the target release, a
 * value in the file that etcd shadows named as such; set, apply writes the value wherever the
 * setting is set (the file's line, keeping the operator's comments and layout, manager/toml-edit.ts,
 * and each etcd key), or in manager.toml beside its commented-out default where it is set nowhere,
 * so the value asked for is the one the manager reads; verify reads every place back.
 */
import { backupManagerToml, currentConfig, dryRunSetting, writeSetting } from './manager-toml.js';
import { describePlace, parsedNow, settingView, shadowed, showValue as show, type SettingPlace, type SettingView } from './merged-config.js';
import type { TomlValue } from '../manager/toml.js';
import { changed, failed, ok, skipped, warning, type Finding, type Step, type StepContext } from './step.js';

export interface ConfigSettingSpec<V extends string | boolean> {
  readonly id: string;
  readonly title: string;
  /** What the step does, for the plan. */
  readonly action: string;
  readonly table: string;
  readonly key: string;
  /** The input that sets the value, for messages. */
  readonly input: string;
  /** The value the operator asked for; undefined leaves the configuration as it is. */
  value(ctx: StepContext): V | undefined;
  /** Why the change matters, added to preflight's findings. */
  readonly why: string;
  /** How preflight reports an unset input: ok when the value set (or the default) is fine as it is, skipped when nothing is decided. */
  readonly unsetStatus: 'ok' | 'skipped';
  /** Why a value (asked for, or already set) cannot serve the hop's target release; undefined when it can. */
  problem?(value: TomlValue, ctx: StepContext): string | undefined;
}

/** etcd holds strings; a boolean setting is written as the manager's loader reads one. */
const etcdText = (value: string | boolean): string => String(value);
const sameValue = (place: SettingPlace, value: string | boolean): boolean => (place.where === 'etcd' ? place.value === etcdText(value) : place.value === value);

export function configSetting<V extends string | boolean>(spec: ConfigSettingSpec<V>): Step {
  const { table, key, input } = spec;
  const name = `[${table}] ${key}`;
  const where = (place: SettingPlace) => describePlace(place, table);

  /** The view with manager.toml as it is on disk now (apply and verify run after other steps). */
  const viewNow = async (ctx: StepContext): Promise<SettingView> => {
    if (!ctx.deployment.targets.managerConfig) return settingView(ctx, table, key);
    const { path, text } = await currentConfig(ctx);
    return settingView(ctx, table, key, parsedNow(path, text));
  };

  /** Where apply writes: every place that sets the setting, or manager.toml where none does. */
  const targetsOf = (view: SettingView): { file: boolean; fileNames: string[]; etcd: Array<Extract<SettingPlace, { where: 'etcd' }>> } => {
    const inFile = view.places.filter((p) => p.where === 'file').map((p) => p.name);
    return {
      file: view.places.length === 0 || inFile.length > 0,
      // The names the file already uses (kebab and snake may both be there), or the key's own.
      fileNames: inFile.length > 0 ? inFile : [key],
      etcd: view.places.filter((p): p is Extract<SettingPlace, { where: 'etcd' }> => p.where === 'etcd'),
    };
  };

  /** Values set where the target does not read them, each with what it reads instead (a file line an operator edited, or a name another wins over). */
  const shadowNotes = (view: SettingView, ctx: StepContext): string[] =>
    shadowed(view).map((p) => {
      const reads = `${ctx.hop.to.line} reads ${show(view.effective!.value)} from ${where(view.effective!)}`;
      if (p.where === 'file' && view.effective!.where === 'etcd') return `${where(p)} = ${show(p.value)} is shadowed: ${reads}, which it merges over manager.toml, so that line does not take effect`;
      if (p.name !== view.effective!.name) return `${where(p)} = ${show(p.value)} is shadowed: ${reads} (it reads the name ${view.effective!.name} before ${p.name})`;
      return `${where(p)} = ${show(p.value)} is shadowed: ${reads}, merged after it`;
    });

  return {
    id: spec.id,
    title: spec.title,
    kind: 'change',
    action: spec.action,
    servers: ['etcd'],

    configEdits(ctx) {
      const wanted = spec.value(ctx);
      return wanted === undefined ? [] : [{ table, key, value: wanted }];
    },

    async preflight(ctx) {
      const wanted = spec.value(ctx);
      const config = ctx.deployment.targets.managerConfig;
      const view = await settingView(ctx, table, key);
      if (wanted === undefined) {
        const stale = view.places.flatMap((p) => {
          const problem = spec.problem?.(p.value, ctx);
          return problem ? [{ place: p, problem }] : [];
        });
        if (stale.length > 0) {
          // One problem per value, after every place that holds it.
          const problems = [...new Set(stale.map((s) => s.problem))];
          const each = problems
            .map(
              (problem) =>
                `${stale
                  .filter((s) => s.problem === problem)
                  .map((s) => describeHolder(s.place, table, key, ctx))
                  .join(' and ')}, but ${problem}`,
            )
            .join('; ');
          const notes = shadowNotes(view, ctx);
          return [failed(`${each}: set ${input} to one of them${view.merged ? ' (bai-migrate then writes it wherever it is set)' : ''}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`)];
        }
        const stays = spec.unsetStatus === 'ok' ? `${key} stays ${show(view.effective?.value)}${view.effective && view.merged ? ` (from ${where(view.effective)})` : ''}; ` : '';
        const findings: Finding[] = [{ status: spec.unsetStatus, detail: `${input} not set: ${stays}${spec.why}` }];
        for (const note of shadowNotes(view, ctx)) findings.push(warning(note));
        return findings;
      }
      const refused = spec.problem?.(wanted, ctx);
      if (refused) return [failed(refused)];
      const targets = targetsOf(view);
      if (targets.file && !config) return [failed(`${describeInput(input, wanted)} must be written to manager.toml, but no manager.toml was found: set manager-config`)];
      const fileNow = view.places.find((p) => p.where === 'file')?.value;
      const places = [
        ...(targets.file ? [`${config!.path}${spec.unsetStatus === 'ok' ? ` (now ${show(fileNow)})` : ''}`] : []),
        ...targets.etcd.map((p) => `etcd key ${p.key} (now ${show(p.value)})`),
      ];
      if (!view.merged) {
        const now = spec.unsetStatus === 'ok' ? ` in ${places[0]}` : '';
        return [ok(`${spec.unsetStatus === 'ok' ? key : name} will be ${show(wanted)}${now}; ${spec.why}`)];
      }
      return [ok(`${name} will be ${show(wanted)} wherever ${ctx.hop.to.line} reads it: ${places.join(', ')}; ${spec.why}`)];
    },

    async dryRun(ctx) {
      const wanted = spec.value(ctx);
      if (wanted === undefined) return [skipped(`${input} not set: manager.toml stays as it is`)];
      const targets = targetsOf(await viewNow(ctx));
      const findings: Finding[] = [];
      if (targets.file) for (const fileName of targets.fileNames) findings.push(await dryRunSetting(ctx, table, fileName, wanted));
      for (const place of targets.etcd) {
        findings.push(ok(sameValue(place, wanted) ? `etcd key ${place.key} already holds ${show(wanted)}` : `would set etcd key ${place.key} = ${show(etcdText(wanted))} (now ${show(place.value)})`));
      }
      return findings;
    },

    async backup(ctx) {
      if (spec.value(ctx) === undefined) return undefined;
      const targets = targetsOf(await viewNow(ctx));
      const file = targets.file && ctx.deployment.targets.managerConfig ? await backupManagerToml(ctx) : undefined;
      if (targets.etcd.length === 0) return file;
      const etcd = Object.fromEntries(targets.etcd.map((p) => [p.key, p.value]));
      return { name: `config-${spec.id}.json`, content: JSON.stringify({ etcd, ...(file ? { 'manager.toml': file.content } : {}) }, null, 2) };
    },

    async apply(ctx): Promise<Finding> {
      const wanted = spec.value(ctx);
      if (wanted === undefined) return skipped(`${input} not set: manager.toml left as it is`);
      const targets = targetsOf(await viewNow(ctx));
      const findings: Finding[] = [];
      if (targets.file) for (const fileName of targets.fileNames) findings.push(await writeSetting(ctx, table, fileName, wanted));
      for (const place of targets.etcd) {
        if (sameValue(place, wanted)) {
          findings.push(ok(`etcd key ${place.key} already holds ${show(wanted)}`));
          continue;
        }
        const etcd = ctx.deployment.etcd;
        const result = await ctx.deployment.bounded(
          'etcd',
          etcd
            .if(place.key, 'Value', '==', place.value)
            .then(etcd.put(place.key).value(etcdText(wanted)))
            .commit(),
        );
        if (!result.succeeded) return failed(`etcd key ${place.key} changed while it was being rewritten (is a manager running?); run again`);
        findings.push(changed(`etcd key ${place.key} = ${show(etcdText(wanted))} (was ${show(place.value)})`));
      }
      const status = findings.some((f) => f.status === 'failed') ? 'failed' : findings.some((f) => f.status === 'changed') ? 'changed' : 'ok';
      return { status, detail: findings.map((f) => f.detail).join('; ') };
    },

    async verify(ctx) {
      const wanted = spec.value(ctx);
      if (wanted === undefined) return [skipped(`${input} not set: nothing to verify`)];
      const view = await viewNow(ctx);
      if (view.places.length === 0) return [failed(`${name} is unset; expected ${show(wanted)}`)];
      const wrong = view.places.filter((p) => !sameValue(p, wanted));
      if (wrong.length > 0) return [failed(wrong.map((p) => `${view.merged ? where(p) : name} is ${show(p.value)}`).join('; ') + `; expected ${show(wanted)}`)];
      if (!view.merged) return [ok(`${name} is ${show(wanted)}`)];
      return [ok(`${name} is ${show(wanted)} wherever ${ctx.hop.to.line} reads it: ${view.places.map(where).join(', ')}`)];
    },
  };
}

/** The file line or etcd key holding a value, as preflight names it. */
function describeHolder(place: SettingPlace, table: string, key: string, ctx: StepContext): string {
  if (place.where === 'file') return `${place.path} has [${table}] ${place.name} = ${show(place.value)}`;
  return `etcd key ${place.key} = ${show(place.value)} (${ctx.hop.to.line} merges it over manager.toml as [${table}] ${key})`;
}

/** `lock-backend "etcd"`, or `periodic-sync-stats` for a boolean (its value says nothing more). */
function describeInput(input: string, value: string | boolean): string {
  return typeof value === 'string' ? `${input} "${value}"` : input;
}
