/**
 * The etcd image database of 21.09, read the way the 21.09 manager reads it, so that bai-migrate
 * imports what 21.09 shows and refuses only what 21.09 itself could not use:
 *
 * - backend.ai-common@21.09.8:src/ai/backend/common/etcd.py (make_dict_from_pairs): every path
 *   component is URL-unquoted with Python's urllib.parse.unquote, which never fails (a malformed
 *   %-sequence stays as it is, undecodable bytes become U+FFFD).
 * - backend.ai-manager@21.09.9:src/ai/backend/manager/config.py (list_images, _parse_image):
 *   `images/{registry}/{image}` = "1" marks an image; each `{tag}` holds the digest, which is
 *   required, as is a `resource/` subtree (get_image_slot_ranges reads it too); `size_bytes`
 *   defaults to 0, `labels` to none, `accelerators` to none. An entry whose reference ImageRef
 *   rejects is skipped by 21.09 as "malformed metadata".
 * - backend.ai-common@21.09.8:src/ai/backend/common/docker.py (ImageRef, resolve_alias): an alias
 *   may name another alias; resolution follows at most 8 look-ups, and a name that is no alias
 *   is parsed as an image reference against the registries in config/docker/registry.
 */
import { isIP } from 'node:net';
import { pyUnquote } from '../../manager/python-values.js';

export interface EtcdImage {
  /** "{registry}/{image}:{tag}", the name 22.03 keys its rows by. */
  name: string;
  registry: string;
  image: string;
  tag: string;
  architecture: string;
  digest: string;
  sizeBytes: number;
  type: 'COMPUTE' | 'SYSTEM' | 'SERVICE';
  accelerators: string | null;
  labels: Record<string, string>;
  resources: Record<string, { min?: string; max?: string }>;
}

interface TagEntry {
  base: string;
  registry: string;
  image: string;
  tag: string;
  fields: Map<string, string>;
}

/** An alias key and the image its chain ends at. */
export interface ResolvedAlias {
  alias: string;
  /** The etcd key, relative to the namespace. */
  key: string;
  /** The name of the image the chain ends at (an EtcdImage's name). */
  image: string;
  /** Every alias name passed on the way, the alias itself first. */
  chain: string[];
}

/** An alias whose chain ends at a name that is no image 21.09 could start. */
export interface DanglingAlias {
  alias: string;
  key: string;
  /** The name the chain ends at, as 21.09 reads it. */
  target: string;
  reason: string;
}

/** An entry 21.09 itself could not use, with the key that makes it so and why. */
export interface UnusableEntry {
  key: string;
  reason: string;
  /** The image (or alias) the entry would have been. */
  name: string;
}

export interface EtcdImageTree {
  images: EtcdImage[];
  aliases: ResolvedAlias[];
  dangling: DanglingAlias[];
  unusable: UnusableEntry[];
  /** How many keys there are under images/_aliases/. */
  aliasKeys: number;
}

/** resolve_alias gives up after this many look-ups that each found another alias. */
export const ALIAS_LOOKUPS = 8;
const DEFAULT_REGISTRY = 'index.docker.io';
const DEFAULT_REPOSITORY = 'lablup';
const TAG_SLUG = /^[A-Za-z0-9](?:[A-Za-z0-9\-._]*[A-Za-z0-9])?$/;

/** Registry names in etcd config/docker/registry/ (get_known_registries), unquoted. */
export function knownRegistries(registryConfig: Record<string, string>): Set<string> {
  const names = Object.keys(registryConfig).map((key) => pyUnquote(key.split('/')[3] ?? ''));
  return new Set(names.filter((name) => name !== ''));
}

function isKnownRegistry(value: string, known: ReadonlySet<string>): boolean {
  if (value === DEFAULT_REGISTRY || known.has(value)) return true;
  // An address such as 10.0.0.5:5000 or [::1]:5000 counts as a registry too.
  const host = /^\[([^\]]+)\]/.exec(value)?.[1] ?? value.split(':')[0] ?? '';
  return isIP(host) !== 0;
}

/** ImageRef(value, known_registries).canonical, or why ImageRef rejects it. */
export function canonicalImageRef(value: string, known: ReadonlySet<string>): { name: string } | { error: string } {
  if (value.includes('://') || value.startsWith('//')) return { error: 'an image reference must not contain a protocol scheme' };
  const slash = value.indexOf('/');
  let registry = DEFAULT_REGISTRY;
  let rest = value;
  let usingDefault = true;
  if (slash >= 0 && isKnownRegistry(value.slice(0, slash), known)) {
    registry = value.slice(0, slash);
    rest = value.slice(slash + 1);
    usingDefault = registry.endsWith('.docker.io') || registry === 'docker.io';
  }
  const colon = rest.lastIndexOf(':');
  let image = colon >= 0 ? rest.slice(0, colon) : rest;
  const tag = colon >= 0 ? rest.slice(colon + 1) : 'latest';
  if (!image) return { error: 'the image name is empty' };
  if (!image.includes('/') && usingDefault) image = `${DEFAULT_REPOSITORY}/${image}`;
  if (!TAG_SLUG.test(tag)) return { error: `"${tag}" is not a valid image tag` };
  return { name: `${registry}/${image}:${tag}` };
}

/**
 * Reads every key under images/ (keys relative to the namespace) with the registries of
 * config/docker/registry/, into what 22.03's images and image_aliases tables should hold.
 */
export function parseImageTree(all: Record<string, string>, registryConfig: Record<string, string>): EtcdImageTree {
  const collector = new ImageTreeCollector();
  for (const key in all) collector.add(key, all[key]!);
  return collector.finish(registryConfig);
}

/**
 * parseImageTree in two parts: `add` groups keys by image tag as they arrive (in any order, so a
 * read can hand them over page by page while etcd reads the next), `finish` judges each tag and
 * resolves the aliases once every key is in.
 */
export class ImageTreeCollector {
  private readonly tags = new Map<string, TagEntry>();
  private readonly aliasEntries: Array<{ key: string; raw: string; alias: string; value: string }> = [];
  /** Image and registry names repeat across a registry's tags: each is unquoted once. */
  private readonly unquoted = new Map<string, string>();

  add(key: string, value: string): void {
    // Positions of slashes instead of split/join: a large registry has hundreds of thousands of keys.
    const first = key.indexOf('/');
    const second = key.indexOf('/', first + 1);
    if (second < 0) return;
    const third = key.indexOf('/', second + 1);
    if (key.startsWith('_aliases/', first + 1)) {
      if (third < 0) this.aliasEntries.push({ key, raw: key.slice(second + 1), alias: pyUnquote(key.slice(second + 1)), value });
      return;
    }
    // images/{registry}/{image} = "1" is only the marker of an image.
    if (third < 0) return;
    const fourth = key.indexOf('/', third + 1);
    const base = fourth < 0 ? key : key.slice(0, fourth);
    let entry = this.tags.get(base);
    if (!entry) {
      entry = {
        base,
        registry: this.unquote(key.slice(first + 1, second)),
        image: this.unquote(key.slice(second + 1, third)),
        tag: pyUnquote(key.slice(third + 1, fourth < 0 ? undefined : fourth)),
        fields: new Map(),
      };
      this.tags.set(base, entry);
    }
    const field = fourth < 0 ? '' : key.slice(fourth + 1);
    entry.fields.set(field.includes('%') ? field.split('/').map(pyUnquote).join('/') : field, value);
  }

  private unquote(text: string): string {
    let done = this.unquoted.get(text);
    if (done === undefined) {
      done = pyUnquote(text);
      this.unquoted.set(text, done);
    }
    return done;
  }

  finish(registryConfig: Record<string, string>): EtcdImageTree {
    const known = knownRegistries(registryConfig);
    const unusable: UnusableEntry[] = [];
    const images: EtcdImage[] = [];
    for (const { base, registry, image, tag, fields } of this.tags.values()) {
      if (tag === '') continue;
      // list_images unquotes the (already unquoted) names once more before parsing the reference.
      const name = `${registry}/${image}:${tag}`;
      const ref = canonicalImageRef(`${this.unquote(registry)}/${this.unquote(image)}:${tag}`, known);
      const unusableAs = (key: string, reason: string) => unusable.push({ key, reason, name });
      if ('error' in ref) {
        unusableAs(base, `21.09 skips it as malformed: ${ref.error}`);
        continue;
      }
      if (ref.name !== name) {
        const why = known.has(registry) ? '' : ` (registry "${registry}" is not in etcd config/docker/registry)`;
        unusableAs(base, `21.09 reads it as ${ref.name}${why}, an image it has no entry for, so it can neither list nor start it`);
        continue;
      }
      const digest = fields.get('');
      if (digest === undefined || digest === '') {
        unusableAs(base, 'no digest (the tag key itself holds none): 21.09 fails reading this image');
        continue;
      }
      const size = fields.get('size_bytes');
      if (size !== undefined && !/^\d+$/.test(size.trim())) {
        unusableAs(`${base}/size_bytes`, `"${size.slice(0, 20)}" is not a whole number of bytes`);
        continue;
      }
      const labels: Record<string, string> = {};
      const resources: EtcdImage['resources'] = {};
      let hasResource = false;
      for (const [field, value] of fields) {
        if (field.startsWith('labels/')) labels[field.slice('labels/'.length)] = value;
        else if (field.startsWith('resource/')) {
          hasResource = true;
          // resource/{slot}/min and resource/{slot}/max; deeper or other keys are 21.09's to ignore too.
          const slash = field.indexOf('/', 'resource/'.length);
          const bound = field.slice(slash + 1);
          if (slash > 'resource/'.length && (bound === 'min' || bound === 'max')) {
            const slot = field.slice('resource/'.length, slash);
            resources[slot] = { ...resources[slot], [bound]: value };
          }
        }
      }
      if (!hasResource) {
        unusableAs(`${base}/resource`, 'no resource/ keys: 21.09 fails on this image when it lists images or starts a session (it reads resource/ without a default)');
        continue;
      }
      const role = (labels['ai.backend.role'] ?? 'COMPUTE').toUpperCase();
      images.push({
        name,
        registry,
        image,
        tag,
        architecture: labels['ai.backend.architecture'] ?? 'x86_64',
        digest,
        // A hand-registered image has no size: 21.09 shows 0.
        sizeBytes: size === undefined ? 0 : Number(size.trim()),
        type: role === 'SYSTEM' || role === 'SERVICE' ? role : 'COMPUTE',
        // 21.09's reader says accelerators, its scanner writes accels (the ai.backend.accelerators label).
        accelerators: fields.get('accelerators') ?? fields.get('accels') ?? null,
        labels,
        resources,
      });
    }

    const resolved = resolveAliases(this.aliasEntries, new Set(images.map((i) => i.name)), new Set(unusable.map((u) => u.name)), known);
    return { images, aliases: resolved.aliases, dangling: resolved.dangling, unusable: [...unusable, ...resolved.unusable], aliasKeys: this.aliasEntries.length };
  }
}

/**
 * resolve_alias for every alias key: follow alias names until a name is no alias (at most
 * ALIAS_LOOKUPS look-ups), then read that name as an image reference. 21.09 looks the next name
 * up verbatim; the names here are the unquoted key names, which is where 21.09's own alias
 * command puts them (config.py alias(): images/_aliases/{quote(alias)}).
 */
function resolveAliases(
  entries: Array<{ key: string; raw: string; alias: string; value: string }>,
  imageNames: ReadonlySet<string>,
  unusableImages: ReadonlySet<string>,
  known: ReadonlySet<string>,
): Pick<EtcdImageTree, 'aliases' | 'dangling' | 'unusable'> {
  // Two keys can unquote to one name ("py:3" and "py%3A3"): 21.09 finds the verbatim one.
  const byName = new Map<string, (typeof entries)[number]>();
  const unusable: UnusableEntry[] = [];
  for (const entry of [...entries].sort((a, b) => Number(b.raw === b.alias) - Number(a.raw === a.alias))) {
    if (byName.has(entry.alias)) unusable.push({ key: entry.key, name: entry.alias, reason: `another key, ${byName.get(entry.alias)!.key}, names the same alias "${entry.alias}" and wins` });
    else byName.set(entry.alias, entry);
  }
  const aliases: ResolvedAlias[] = [];
  const dangling: DanglingAlias[] = [];
  for (const entry of byName.values()) {
    const chain = [entry.alias];
    let next = entry.value;
    let lookups = 1;
    while (byName.has(next) && lookups < ALIAS_LOOKUPS) {
      if (chain.includes(next)) break;
      chain.push(next);
      next = byName.get(next)!.value;
      lookups++;
    }
    // 21.09 gives up once its eighth look-up still finds an alias, even if that one were the last.
    if (byName.has(next) || lookups >= ALIAS_LOOKUPS) {
      const loop = chain.includes(next);
      const keys = [...chain, ...(loop ? [next] : [])].map((name) => byName.get(name)!.key);
      unusable.push({
        key: entry.key,
        name: entry.alias,
        reason: loop
          ? `the aliases form a loop (${keys.join(' → ')}): 21.09 cannot resolve it`
          : `the chain ${keys.join(' → ')} takes ${ALIAS_LOOKUPS} or more look-ups, more than 21.09 follows (at most ${ALIAS_LOOKUPS - 1} aliases in a row): it cannot resolve it`,
      });
      continue;
    }
    const via = chain.length > 1 ? ` (via ${chain.slice(1).join(' → ')})` : '';
    const ref = canonicalImageRef(next, known);
    if ('error' in ref) {
      dangling.push({ alias: entry.alias, key: entry.key, target: next, reason: `points at "${next}"${via}, which is no image reference (${ref.error})` });
    } else if (imageNames.has(ref.name)) {
      aliases.push({ alias: entry.alias, key: entry.key, image: ref.name, chain });
    } else if (unusableImages.has(ref.name)) {
      unusable.push({ key: entry.key, name: entry.alias, reason: `points at ${ref.name}${via}, an image entry 21.09 cannot use` });
    } else {
      dangling.push({ alias: entry.alias, key: entry.key, target: ref.name, reason: `points at ${ref.name}${via}, which etcd has no image for` });
    }
  }
  return { aliases, dangling, unusable };
}
