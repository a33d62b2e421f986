/**
 * Where a release's manager reads its configuration. Up to 25.7 the keys bai-migrate reads and
 * writes in manager.toml come from that file alone. From 25.8.0 the manager validates one merged
 * mapping (backend.ai@25.8.1:src/ai/backend/manager/server.py, config_provider_ctx): manager.toml
 * (config/loader/toml_loader.py), then etcd's `config/` (config/loader/legacy_etcd_loader.py,
 * LegacyEtcdLoader), `volumes/` under the top-level key `volumes` (LegacyEtcdVolumesLoader),
 * `ai/backend/config/common` and `ai/backend/config/manager` (config/loader/etcd_loader.py), then
 * the command line's overrides, each merged over the one before by `merge_configs`
 * (config/loader/loader_chain.py: a mapping is merged key by key, anything else replaces; the later
 * source wins). Each etcd prefix is read with AsyncEtcd.get_prefix in the GLOBAL scope of the
 * namespace (`/sorna/<namespace>/`), its key parts URL-unquoted into nested tables
 * (backend.ai@25.8.1:src/ai/backend/common/etcd.py, make_dict_from_pairs): etcd's
 * `config/manager/distributed-lock` and `ai/backend/config/manager/manager/distributed-lock` are
 * both `[manager] distributed-lock` of the merged configuration, and both override manager.toml.
 *
 * The merged mapping is validated by the pydantic model ManagerUnifiedConfig
 * (backend.ai@25.8.1:src/ai/backend/manager/config/unified.py), whose fields take several names
 * (AliasChoices): pydantic reads the first of them the mapping holds, so a kebab-case name anywhere
 * in the merge wins over the snake-case one, whichever source each came from.
 *
 * backend.ai@25.19.2 has the same loader chain, prefixes and names (the same files, server.py's
 * config_provider_ctx, and `distributed_lock` with AliasChoices("distributed-lock", "distributed_lock")).
 */
import { compareReleases, findRelease, type Release } from './releases.js';

/** One etcd prefix merged into the manager's configuration. */
export interface EtcdConfigLayer {
  /** Relative to the namespace, ending with "/". */
  readonly prefix: string;
  /** The top-level table its keys land under; undefined: at the top (its first key part is the table). */
  readonly under?: string;
}

interface MergedConfigFacts {
  readonly since: string;
  /** etcd's prefixes in merge order (manager.toml first, before them; later wins). */
  readonly layers: readonly EtcdConfigLayer[];
  /** The names each key bai-migrate reads or writes goes by, in the order the model tries them; a key not listed goes by its own name only. */
  readonly names: Readonly<Record<string, readonly string[]>>;
}

const FACTS: readonly MergedConfigFacts[] = [
  {
    since: '25.8.0',
    layers: [{ prefix: 'config/' }, { prefix: 'volumes/', under: 'volumes' }, { prefix: 'ai/backend/config/common/' }, { prefix: 'ai/backend/config/manager/' }],
    // backend.ai@25.8.1:src/ai/backend/manager/config/unified.py, ManagerConfig.distributed_lock: AliasChoices("distributed-lock", "distributed_lock").
    // backend.ai-manager 26.8.3 wheel: ai/backend/manager/config/unified.py, RetentionConfig.per_tick_budget (26.8.0 on; before, no [retention]).
    names: { 'manager.distributed-lock': ['distributed-lock', 'distributed_lock'], 'retention.per-tick-budget': ['per-tick-budget', 'per_tick_budget'] },
  },
];

function factsOf(release: Release): MergedConfigFacts | undefined {
  return FACTS.filter((f) => compareReleases(findRelease(f.since)!, release) <= 0).at(-1);
}

/** The etcd prefixes `release`'s manager merges over manager.toml, in merge order; empty when it reads manager.toml alone. */
export function etcdConfigLayers(release: Release): readonly EtcdConfigLayer[] {
  return factsOf(release)?.layers ?? [];
}

/** Whether `release`'s manager validates manager.toml merged with etcd (its loader needs both). */
export function mergesEtcdConfig(release: Release): boolean {
  return etcdConfigLayers(release).length > 0;
}

/** The names `[table] key` goes by for `release`, the one its configuration reads first first. */
export function configKeyNames(release: Release, table: string, key: string): readonly string[] {
  return factsOf(release)?.names[`${table}.${key}`] ?? [key];
}

/**
 * The etcd key (relative to the namespace) that sets `[table] name` through `layer`, or undefined
 * when the layer cannot hold that table.
 */
export function etcdKeyOf(layer: EtcdConfigLayer, table: string, name: string): string | undefined {
  if (layer.under === undefined) return `${layer.prefix}${table}/${name}`;
  return layer.under === table ? `${layer.prefix}${name}` : undefined;
}
