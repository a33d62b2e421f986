/**
 * One setting of the manager's configuration as the hop's target release reads it: manager.toml,
 * and from 25.8 the etcd keys merged over it (releases/merged-config.ts), each place that sets it
 * under any of the names the release reads, and which of them the manager ends up with. Steps that
 * judge or write a setting ask here, so that a value in etcd is judged and rewritten where it is
 * set, and a value in manager.toml that etcd shadows is named as such.
 */
import { configKeyNames, etcdConfigLayers, etcdKeyOf } from '../releases/merged-config.js';
import { isTable, parseToml, type TomlTable, type TomlValue } from '../manager/toml.js';
import type { StepContext } from './step.js';
import type { Deployment } from '../stores/deployment.js';
import type { Release } from '../releases/releases.js';

export type SettingPlace =
  { readonly where: 'file'; readonly path: string; readonly name: string; readonly value: TomlValue } | { readonly where: 'etcd'; readonly key: string; readonly name: string; readonly value: string };

export interface SettingView {
  /** Every place that sets the setting, manager.toml first, then etcd in merge order. */
  readonly places: readonly SettingPlace[];
  /** The place whose value the target's manager reads; undefined when none sets it (the default holds). */
  readonly effective?: SettingPlace;
  /** Whether the target reads etcd at all for its configuration. */
  readonly merged: boolean;
}

/** `[manager] distributed-lock` in /etc/manager.toml, or etcd key `config/manager/distributed-lock`. */
export function describePlace(place: SettingPlace, table: string): string {
  return place.where === 'file' ? `${place.path} [${table}] ${place.name}` : `etcd key ${place.key}`;
}

export const showValue = (value: TomlValue | undefined): string => (value === undefined ? 'unset' : typeof value === 'string' ? `"${value}"` : String(value));

/** The etcd keys (relative to the namespace) under `prefix` whose one remaining part, URL-unquoted as the manager reads it, is `name`. */
function matching(found: Readonly<Record<string, string>>, prefix: string, name: string): Array<[string, string]> {
  return Object.entries(found).filter(([key]) => {
    const rest = key.slice(prefix.length);
    if (rest.includes('/')) return false;
    try {
      return decodeURIComponent(rest) === name;
    } catch {
      return rest === name;
    }
  });
}

/**
 * Where `[table] key` is set for the hop's target. `toml` is manager.toml as it is now (the copy read
 * at start unless given); etcd is read only when the target merges it.
 */
export function settingView(ctx: StepContext, table: string, key: string, toml?: { path: string; table: TomlTable }): Promise<SettingView> {
  return releaseSetting(ctx.deployment, ctx.hop.to, table, key, toml);
}

/** Where `[table] key` is set for `release`'s manager, outside a hop too (clear-history); `etcd: false` reads manager.toml alone. */
export async function releaseSetting(
  deployment: Deployment,
  release: Release,
  table: string,
  key: string,
  toml?: { path: string; table: TomlTable },
  { etcd = true }: { etcd?: boolean } = {},
): Promise<SettingView> {
  const names = configKeyNames(release, table, key);
  const config = toml ?? deployment.targets.managerConfig;
  const places: SettingPlace[] = [];
  if (config) {
    const section = config.table[table];
    if (isTable(section)) for (const name of names) if (section[name] !== undefined) places.push({ where: 'file', path: config.path, name, value: section[name] });
  }
  const layers = etcd ? etcdConfigLayers(release) : [];
  for (const layer of layers) {
    for (const name of names) {
      const exact = etcdKeyOf(layer, table, name);
      if (!exact) continue;
      const prefix = exact.slice(0, exact.length - name.length);
      const found = await deployment.etcdPrefix(prefix);
      for (const [etcdKey, value] of matching(found, prefix, name)) places.push({ where: 'etcd', key: etcdKey, name, value });
    }
  }
  // merge_configs: for one name the last source wins; pydantic then reads the first name present.
  let effective: SettingPlace | undefined;
  for (const name of names) {
    const last = places.filter((p) => p.name === name).at(-1);
    if (last) {
      effective = last;
      break;
    }
  }
  return { places, effective, merged: layers.length > 0 };
}

/** Places whose value the manager does not read because another place wins, each with the one that wins. */
export function shadowed(view: SettingView): SettingPlace[] {
  return view.effective ? view.places.filter((p) => p !== view.effective && p.value !== view.effective!.value) : [];
}

/** manager.toml on disk now, parsed, for apply and verify (the copy read at start may be stale). */
export function parsedNow(path: string, text: string): { path: string; table: TomlTable } {
  return { path, table: parseToml(text) };
}
