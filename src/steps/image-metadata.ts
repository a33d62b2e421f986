/**
 * 22.03 reads image metadata from PostgreSQL (images, image_aliases) instead of etcd's images/
 * tree; the registry configuration stays in etcd config/docker/registry (reference §4). A rescan
 * alone would lose aliases and admin-set resource limits, so bai-migrate copies the tree itself:
 * one transaction, idempotent, etcd left intact.
 */
import type { Deployment } from '../engine/deployment.js';
import { tableExists } from '../engine/schema.js';
import { changed, failed, ok, warning, type Finding, type Step } from './step.js';

export interface EtcdImage {
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

export interface EtcdImageTree {
  images: EtcdImage[];
  aliases: Array<{ alias: string; target: string }>;
  /** Keys that cannot be read as image metadata, with the reason. */
  problems: string[];
}

export const imageMetadata: Step = {
  id: 'image-metadata',
  title: 'Image metadata from etcd to PostgreSQL',
  kind: 'change',
  action: 'Copies images/{registry}/{image}/{tag} and images/_aliases from etcd into the images and image_aliases tables, keeping etcd intact.',
  servers: ['etcd', 'postgres'],
  tables: ['images', 'image_aliases'],

  async preflight({ deployment }) {
    const findings: Finding[] = [];
    const registries = Object.keys(await deployment.etcdPrefix('config/docker/registry/'));
    const names = [...new Set(registries.map((k) => safeDecode(k.split('/')[3] ?? '')))].filter((n) => n);
    findings.push(
      names.length > 0
        ? ok(`${names.length} registr${names.length === 1 ? 'y' : 'ies'} in etcd config/docker/registry: ${names.join(', ')}`)
        : failed('etcd config/docker/registry is empty: the 22.03 manager (and its image rescan) requires at least one registry there'),
    );
    const tree = await readImageTree(deployment);
    if (tree.problems.length > 0) findings.push(failed(describeProblems(tree)));
    findings.push(
      tree.images.length > 0
        ? ok(`${tree.images.length} image tag(s) and ${tree.aliases.length} alias(es) in etcd images/`)
        : warning('etcd images/ holds no image tags: nothing to copy; run an image rescan after the upgrade'),
    );
    findings.push(...danglingAliases(tree).map((a) => warning(`alias "${a.alias}" points at ${a.target}, which etcd has no metadata for: it will not be copied`)));
    return findings;
  },

  async backup({ deployment }) {
    const all = await deployment.etcdPrefix('images/');
    return { name: 'etcd-images.json', content: JSON.stringify(all, null, 2) };
  },

  async dryRun({ deployment }) {
    const tree = await readImageTree(deployment);
    if (tree.problems.length > 0) return [failed(describeProblems(tree))];
    const present = (await tableExists(deployment.postgres, 'images')) ? await rowsByName(deployment) : new Map();
    const missing = tree.images.filter((i) => present.get(i.name)?.config_digest?.trim() !== i.digest).length;
    return [ok(`would copy ${tree.images.length} image(s) (${missing} new or changed) and ${tree.aliases.length - danglingAliases(tree).length} alias(es) into PostgreSQL`)];
  },

  async apply({ deployment }) {
    const tree = await readImageTree(deployment);
    if (tree.problems.length > 0) return failed(describeProblems(tree));
    const pg = deployment.postgres;
    await pg.query('BEGIN');
    try {
      const images = await pg.query(
        `INSERT INTO images (name, image, tag, registry, architecture, config_digest, size_bytes, type, accelerators, labels, resources)
         SELECT r.name, r.image, r.tag, r.registry, r.architecture, r.digest, r.size_bytes, r.type::image_type, r.accelerators, r.labels, r.resources
           FROM jsonb_to_recordset($1::jsonb) AS r(name text, image text, tag text, registry text, architecture text, digest text,
                size_bytes bigint, type text, accelerators text, labels jsonb, resources jsonb)
         ON CONFLICT (name, architecture) DO UPDATE SET
           image = EXCLUDED.image, tag = EXCLUDED.tag, registry = EXCLUDED.registry, config_digest = EXCLUDED.config_digest,
           size_bytes = EXCLUDED.size_bytes, type = EXCLUDED.type, accelerators = EXCLUDED.accelerators,
           labels = EXCLUDED.labels, resources = EXCLUDED.resources
         WHERE (images.image, images.tag, images.registry, images.config_digest, images.size_bytes, images.type, images.accelerators, images.labels, images.resources)
               IS DISTINCT FROM
               (EXCLUDED.image, EXCLUDED.tag, EXCLUDED.registry, EXCLUDED.config_digest, EXCLUDED.size_bytes, EXCLUDED.type, EXCLUDED.accelerators, EXCLUDED.labels, EXCLUDED.resources)`,
        [JSON.stringify(tree.images.map(toRow))],
      );
      // An alias names an image; with several architectures of it, x86_64 (the etcd era's only one) wins.
      const aliases = await pg.query(
        `INSERT INTO image_aliases (alias, image)
         SELECT DISTINCT ON (a.alias) a.alias, i.id
           FROM jsonb_to_recordset($1::jsonb) AS a(alias text, target text) JOIN images i ON i.name = a.target
          ORDER BY a.alias, i.architecture <> 'x86_64'
         ON CONFLICT (alias) DO UPDATE SET image = EXCLUDED.image WHERE image_aliases.image IS DISTINCT FROM EXCLUDED.image`,
        [JSON.stringify(tree.aliases)],
      );
      await pg.query('COMMIT');
      const touched = (images.rowCount ?? 0) + (aliases.rowCount ?? 0);
      const detail = `${images.rowCount} of ${tree.images.length} image(s) and ${aliases.rowCount} alias(es) written; etcd images/ left intact`;
      return touched > 0 ? changed(detail) : ok(`all ${tree.images.length} image(s) and their aliases are already in PostgreSQL`);
    } catch (error) {
      await pg.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  },

  async verify({ deployment }) {
    const tree = await readImageTree(deployment);
    const rows = await rowsByName(deployment);
    const wrong = tree.images.filter((i) => rows.get(i.name)?.config_digest?.trim() !== i.digest);
    const { rows: aliasRows } = await deployment.postgres.query<{ alias: string; name: string }>('SELECT a.alias, i.name FROM image_aliases a JOIN images i ON i.id = a.image');
    const resolved = new Map(aliasRows.map((r) => [r.alias, r.name]));
    const dangling = new Set(danglingAliases(tree).map((a) => a.alias));
    const unresolved = tree.aliases.filter((a) => !dangling.has(a.alias) && resolved.get(a.alias) !== a.target);
    return [
      wrong.length === 0
        ? ok(`every etcd image tag (${tree.images.length}) has its row in images with the same digest`)
        : failed(`${wrong.length} etcd image tag(s) have no matching row in images, e.g. ${wrong.slice(0, 3).map((i) => i.name).join(', ')}`),
      unresolved.length === 0
        ? ok(`every alias (${tree.aliases.length - dangling.size}) resolves to its image`)
        : failed(`${unresolved.length} alias(es) do not resolve, e.g. ${unresolved.slice(0, 3).map((a) => a.alias).join(', ')}`),
    ];
  },
};

async function rowsByName(deployment: Deployment): Promise<Map<string, { config_digest: string }>> {
  const { rows } = await deployment.postgres.query<{ name: string; config_digest: string }>("SELECT name, config_digest FROM images WHERE architecture = 'x86_64'");
  return new Map(rows.map((r) => [r.name, r]));
}

function toRow(image: EtcdImage) {
  return {
    name: image.name,
    image: image.image,
    tag: image.tag,
    registry: image.registry,
    architecture: image.architecture,
    digest: image.digest,
    size_bytes: image.sizeBytes,
    type: image.type,
    accelerators: image.accelerators,
    labels: image.labels,
    resources: image.resources,
  };
}

function danglingAliases(tree: EtcdImageTree) {
  const names = new Set(tree.images.map((i) => i.name));
  return tree.aliases.filter((a) => !names.has(a.target));
}

function describeProblems(tree: EtcdImageTree): string {
  const shown = tree.problems.slice(0, 10).join('; ');
  return `etcd images/ has ${tree.problems.length} unreadable key(s): ${shown}${tree.problems.length > 10 ? '; …' : ''}. Fix or delete them (etcdctl) and run again`;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Reads the etcd image database of 21.09 (reference §4.3) into rows, noting every key it cannot read. */
export async function readImageTree(deployment: Deployment): Promise<EtcdImageTree> {
  return parseImageTree(await deployment.etcdPrefix('images/'));
}

export function parseImageTree(all: Record<string, string>): EtcdImageTree {
  const problems: string[] = [];
  const aliases: EtcdImageTree['aliases'] = [];
  const tags = new Map<string, { registry: string; image: string; tag: string; fields: Map<string, string> }>();
  const decode = (part: string, key: string): string | undefined => {
    try {
      return decodeURIComponent(part);
    } catch {
      problems.push(`${key} (bad URL quoting)`);
      return undefined;
    }
  };
  for (const [key, value] of Object.entries(all)) {
    const parts = key.split('/');
    if (parts[1] === '_aliases') {
      const alias = parts.length === 3 ? decode(parts[2]!, key) : undefined;
      if (alias !== undefined) aliases.push({ alias, target: value });
      else if (parts.length !== 3) problems.push(`${key} (not images/_aliases/{alias})`);
      continue;
    }
    if (parts.length < 4) continue; // images/{registry}/{image} = "1" marks the image itself
    const registry = decode(parts[1]!, key);
    const image = decode(parts[2]!, key);
    if (registry === undefined || image === undefined) continue;
    const tag = parts[3]!;
    const id = `${registry}/${image}:${tag}`;
    const entry = tags.get(id) ?? { registry, image, tag, fields: new Map<string, string>() };
    tags.set(id, entry);
    entry.fields.set(parts.slice(4).join('/'), value);
  }
  const images: EtcdImage[] = [];
  for (const [name, { registry, image, tag, fields }] of tags) {
    const digest = fields.get('');
    const size = fields.get('size_bytes');
    if (!digest) {
      problems.push(`images/${encodeURIComponent(registry)}/${encodeURIComponent(image)}/${tag} (no digest)`);
      continue;
    }
    if (size === undefined || !/^\d+$/.test(size)) {
      problems.push(`images/${encodeURIComponent(registry)}/${encodeURIComponent(image)}/${tag}/size_bytes (${size === undefined ? 'missing' : `"${size.slice(0, 20)}" is not a number`})`);
      continue;
    }
    const labels: Record<string, string> = {};
    const resources: EtcdImage['resources'] = {};
    for (const [field, value] of fields) {
      if (field.startsWith('labels/')) labels[field.slice('labels/'.length)] = value;
      const resource = /^resource\/([^/]+)\/(min|max)$/.exec(field);
      if (resource) resources[resource[1]!] = { ...resources[resource[1]!], [resource[2]!]: value };
    }
    const role = (labels['ai.backend.role'] ?? 'COMPUTE').toUpperCase();
    images.push({
      name,
      registry,
      image,
      tag,
      architecture: labels['ai.backend.architecture'] ?? 'x86_64',
      digest,
      sizeBytes: Number(size),
      type: role === 'SYSTEM' || role === 'SERVICE' ? role : 'COMPUTE',
      accelerators: fields.get('accelerators') ?? fields.get('accels') ?? null,
      labels,
      resources,
    });
  }
  return { images, aliases, problems };
}
