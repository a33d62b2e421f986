/**
 * 22.03 reads image metadata from PostgreSQL (images, image_aliases) instead of etcd's images/
 * tree; the registry configuration stays in etcd config/docker/registry (backend.ai-manager@22.03.3:
 * src/ai/backend/manager/models/image.py, and its MIGRATION.md). A rescan
 * alone would lose aliases and admin-set resource limits, so bai-migrate copies the tree itself:
 * one transaction, idempotent, etcd left intact.
 *
 * Only rows PostgreSQL lacks are written. A row that is there already is the manager's: a registry
 * rescan (image-rescan, or the operator's own) or an admin changed it after the import, and etcd's
 * 21.09 tree is older than it. A later run must not put etcd's digests, labels and limits back.
 */
import type { Deployment } from '../../stores/deployment.js';
import { tableExists } from '../../stores/schema.js';
import { changed, failed, firstFew, ok, skipped, warning, type Finding, type Step } from '../../steps/step.js';
import { knownRegistries, ImageTreeCollector, type EtcdImage, type EtcdImageTree, type UnusableEntry } from './image-tree.js';

export type { EtcdImage, EtcdImageTree } from './image-tree.js';

/** How many entries a finding names before it says "and N more". */
const SHOWN = 10;

export const imageMetadata: Step = {
  id: 'image-metadata',
  title: 'Image metadata from etcd to PostgreSQL',
  kind: 'change',
  action: 'Copies images/{registry}/{image}/{tag} and images/_aliases from etcd into the images and image_aliases tables (alias chains resolved to their image), keeping etcd intact.',
  servers: ['etcd', 'postgres'],
  tables: ['images', 'image_aliases'],

  async preflight({ deployment, settings }) {
    const findings: Finding[] = [];
    const tree = await readImageTree(deployment);
    const names = [...knownRegistries(await deployment.etcdPrefix('config/docker/registry/'))];
    findings.push(
      names.length > 0
        ? ok(`${names.length} registr${names.length === 1 ? 'y' : 'ies'} in etcd config/docker/registry: ${names.join(', ')}`)
        : failed('etcd config/docker/registry is empty: the 22.03 manager (and its image rescan) requires at least one registry there'),
    );
    if (tree.unusable.length > 0) findings.push(unusableFinding(tree.unusable, settings.skipUnusableImages));
    findings.push(
      tree.images.length > 0
        ? ok(`${tree.images.length} image tag(s) and ${tree.aliasKeys} alias key(s) in etcd images/`)
        : warning('etcd images/ holds no image tag 21.09 can use: nothing to copy; run an image rescan after the upgrade'),
    );
    const chained = tree.aliases.filter((a) => a.chain.length > 1);
    if (chained.length > 0) {
      findings.push(
        ok(
          `${chained.length} alias(es) name another alias, e.g. ${chained
            .slice(0, 3)
            .map((a) => `${a.chain.join(' → ')} → ${a.image}`)
            .join('; ')}: each gets a row pointing at the image its chain ends at`,
        ),
      );
    }
    if (tree.dangling.length > 0) findings.push(danglingFinding(tree));
    return findings;
  },

  async backup({ deployment }) {
    const all = await readImageKeys(deployment);
    return { name: 'etcd-images.json', content: JSON.stringify(all, null, 2) };
  },

  async dryRun({ deployment, settings }) {
    const tree = await readImageTree(deployment);
    if (tree.unusable.length > 0 && !settings.skipUnusableImages) return [unusableFinding(tree.unusable, false)];
    const counts = await countChanges(deployment, tree);
    const skippedNote = tree.unusable.length > 0 ? `; ${tree.unusable.length} unusable entr${tree.unusable.length === 1 ? 'y' : 'ies'} skipped` : '';
    return [ok(`would write ${describeCounts(counts)} into PostgreSQL${skippedNote}`)];
  },

  async apply({ deployment, settings }) {
    const tree = await readImageTree(deployment);
    if (tree.unusable.length > 0 && !settings.skipUnusableImages) return unusableFinding(tree.unusable, false);
    const pg = deployment.postgres;
    await pg.query('BEGIN');
    try {
      const images = await pg.query(
        `INSERT INTO images (name, image, tag, registry, architecture, config_digest, size_bytes, type, accelerators, labels, resources)
         SELECT r.name, r.image, r.tag, r.registry, r.architecture, r.digest, r.size_bytes, r.type::image_type, r.accelerators, r.labels, r.resources
           FROM ${DESIRED_IMAGES}
         ON CONFLICT (name, architecture) DO NOTHING`,
        [JSON.stringify(tree.images.map(toRow))],
      );
      // An alias names an image; with several architectures of it, x86_64 (the etcd era's only one) wins.
      const aliases = await pg.query(
        `INSERT INTO image_aliases (alias, image)
         SELECT DISTINCT ON (a.alias) a.alias, i.id
           FROM ${DESIRED_ALIASES} JOIN images i ON i.name = a.image
          ORDER BY a.alias, i.architecture <> 'x86_64', i.architecture
         ON CONFLICT (alias) DO NOTHING`,
        [JSON.stringify(tree.aliases.map(({ alias, image }) => ({ alias, image })))],
      );
      await pg.query('COMMIT');
      // INSERT … ON CONFLICT DO NOTHING counts only the rows it wrote.
      const created = { images: images.rowCount ?? 0, aliases: aliases.rowCount ?? 0 };
      // Rows that were there already, and of those the ones that differ from etcd (a first import has none: no second read).
      const allWritten = created.images === tree.images.length && created.aliases === tree.aliases.length;
      const present = allWritten ? undefined : await countChanges(deployment, tree);
      const counts = {
        images: { created: created.images, kept: present?.images.kept ?? 0 },
        aliases: { created: created.aliases, kept: present?.aliases.kept ?? 0 },
      };
      const notes = [
        ...(tree.unusable.length > 0 ? [`skipped ${tree.unusable.length} unusable entr${tree.unusable.length === 1 ? 'y' : 'ies'} (kept in etcd and the backup bundle)`] : []),
        ...(tree.dangling.length > 0 ? [`${tree.dangling.length} dangling alias(es) not copied`] : []),
        'etcd images/ left intact',
      ].join('; ');
      return created.images + created.aliases > 0
        ? changed(`wrote ${describeCounts(counts)}; ${notes}`)
        : ok(`all ${tree.images.length} image(s) and ${tree.aliases.length} alias(es) are already in PostgreSQL${keptNote(counts)}; ${notes}`);
    } catch (error) {
      await pg.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  },

  /** Every image tag and every alias key in etcd: each has its row, or is named as skipped or dangling. */
  async verify({ deployment, settings }) {
    const tree = await readImageTree(deployment);
    const { rows } = await deployment.postgres.query<{ name: string; architecture: string }>('SELECT name, architecture FROM images');
    const present = new Set(rows.map((r) => `${r.name}\0${r.architecture}`));
    const wrong = tree.images.filter((i) => !present.has(`${i.name}\0${i.architecture}`));
    const { rows: aliasRows } = await deployment.postgres.query<{ alias: string; name: string }>('SELECT a.alias, i.name FROM image_aliases a JOIN images i ON i.id = a.image');
    const resolved = new Map(aliasRows.map((r) => [r.alias, r.name]));
    // An alias the manager points elsewhere now is its own; one that is missing is not.
    const unresolved = tree.aliases.filter((a) => !resolved.has(a.alias));
    const findings = [
      wrong.length === 0
        ? ok(`every usable etcd image tag (${tree.images.length}) has its row in images (same name and architecture)`)
        : failed(
            `${wrong.length} etcd image tag(s) have no matching row in images (by name and architecture), e.g. ${wrong
              .slice(0, 3)
              .map((i) => `${i.name} (${i.architecture})`)
              .join(', ')}`,
          ),
      unresolved.length === 0
        ? ok(`every resolvable alias (${tree.aliases.length} of ${tree.aliasKeys} alias key(s)) has its row`)
        : failed(
            `${unresolved.length} alias(es) have no row, e.g. ${unresolved
              .slice(0, 3)
              .map((a) => `${a.alias} → ${a.image}`)
              .join(', ')}`,
          ),
    ];
    if (tree.dangling.length > 0) findings.push(danglingFinding(tree));
    if (tree.unusable.length > 0)
      findings.push(settings.skipUnusableImages ? skipped(`not imported (skip-unusable-images): ${describeUnusable(tree.unusable)}`) : unusableFinding(tree.unusable, false));
    return findings;
  },
};

/**
 * The rows migrate writes, as a record set of $1. Parsed as json, not jsonb: PostgreSQL builds
 * jsonb only for the two columns that are jsonb, not for the whole 4 MB of a large registry
 * (which halves the time of the upsert).
 */
const DESIRED_IMAGES = `(SELECT name, image, tag, registry, architecture, digest, size_bytes, type, accelerators, labels::jsonb AS labels, resources::jsonb AS resources
   FROM json_to_recordset($1::json) AS x(name text, image text, tag text, registry text, architecture text, digest text,
        size_bytes bigint, type text, accelerators text, labels json, resources json)) AS r`;
/** The alias rows migrate writes (alias → image name), as a record set of $1 or $2. */
const DESIRED_ALIASES = `json_to_recordset($1::json) AS a(alias text, image text)`;

/** Rows the import writes, and rows PostgreSQL has already that differ from etcd (left as they are). */
interface Counts {
  images: { created: number; kept: number };
  aliases: { created: number; kept: number };
}

function describeCounts(counts: Counts): string {
  return `${counts.images.created} image row(s) and ${counts.aliases.created} alias row(s)${keptNote(counts)}`;
}

function keptNote(counts: Counts): string {
  const kept = [...(counts.images.kept > 0 ? [`${counts.images.kept} image row(s)`] : []), ...(counts.aliases.kept > 0 ? [`${counts.aliases.kept} alias row(s)`] : [])];
  return kept.length > 0 ? ` (${kept.join(' and ')} already in PostgreSQL differ from etcd and are left as they are: the manager's, e.g. from a registry rescan)` : '';
}

/**
 * What apply would write, found by reading only (the same predicates as apply's inserts, so the
 * dry run's numbers are the ones migrate then reports), and which present rows differ from etcd.
 */
async function countChanges(deployment: Deployment, tree: EtcdImageTree): Promise<Counts> {
  const images = JSON.stringify(tree.images.map(toRow));
  const aliases = JSON.stringify(tree.aliases.map(({ alias, image }) => ({ alias, image })));
  if (!(await tableExists(deployment.postgres, 'images'))) {
    // A 21.09 database: alembic creates the tables empty, so every row is new.
    const names = new Set(tree.images.map((i) => i.name));
    return { images: { created: tree.images.length, kept: 0 }, aliases: { created: tree.aliases.filter((a) => names.has(a.image)).length, kept: 0 } };
  }
  const { rows } = await deployment.postgres.query<{ images_created: string; images_kept: string; aliases_created: string; aliases_kept: string }>(
    `WITH desired AS (SELECT * FROM ${DESIRED_IMAGES}),
     image_changes AS (
       SELECT i.id IS NULL AS created FROM desired r LEFT JOIN images i ON i.name = r.name AND i.architecture = r.architecture
        WHERE i.id IS NULL
           OR (i.image, i.tag, i.registry, rtrim(i.config_digest), i.size_bytes, i.type::text, i.accelerators, i.labels, i.resources)
              IS DISTINCT FROM (r.image, r.tag, r.registry, rtrim(r.digest), r.size_bytes, r.type, r.accelerators, r.labels, r.resources)),
     every_image AS (SELECT name, architecture FROM images UNION SELECT name, architecture FROM desired),
     chosen AS (SELECT DISTINCT ON (name) name, architecture FROM every_image ORDER BY name, architecture <> 'x86_64', architecture),
     wanted AS (SELECT a.alias, c.name, c.architecture FROM ${DESIRED_ALIASES.replace('$1', '$2')} JOIN chosen c ON c.name = a.image),
     present AS (SELECT a.alias, i.name, i.architecture FROM image_aliases a JOIN images i ON i.id = a.image),
     alias_changes AS (
       SELECT p.alias IS NULL AS created FROM wanted w LEFT JOIN present p ON p.alias = w.alias
        WHERE p.alias IS NULL OR (p.name, p.architecture) IS DISTINCT FROM (w.name, w.architecture))
     SELECT (SELECT count(*) FILTER (WHERE created) FROM image_changes) AS images_created,
            (SELECT count(*) FILTER (WHERE NOT created) FROM image_changes) AS images_kept,
            (SELECT count(*) FILTER (WHERE created) FROM alias_changes) AS aliases_created,
            (SELECT count(*) FILTER (WHERE NOT created) FROM alias_changes) AS aliases_kept`,
    [images, aliases],
  );
  const r = rows[0]!;
  return {
    images: { created: Number(r.images_created), kept: Number(r.images_kept) },
    aliases: { created: Number(r.aliases_created), kept: Number(r.aliases_kept) },
  };
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

function listed<T>(items: readonly T[], show: (item: T) => string): string {
  return firstFew(items, show, { limit: SHOWN, more: " (all in the report's attachment)" });
}

function describeUnusable(unusable: readonly UnusableEntry[]): string {
  return listed(unusable, (u) => `${u.key}: ${u.reason}`);
}

function unusableFinding(unusable: readonly UnusableEntry[], skip: boolean): Finding {
  const count = `${unusable.length} etcd image entr${unusable.length === 1 ? 'y' : 'ies'} the 21.09 manager itself cannot use`;
  const attachment = unusable.length > SHOWN ? { name: 'unusable-image-entries.txt', content: unusable.map((u) => `${u.key}\t${u.reason}\n`).join('') } : undefined;
  return skip
    ? { ...warning(`${count} will not be imported (skip-unusable-images); they stay in etcd and in the backup bundle: ${describeUnusable(unusable)}`), attachment }
    : {
        ...failed(`${count}: ${describeUnusable(unusable)}. Fix them in etcd, or set skip-unusable-images: true to import everything else (they stay in etcd and in the backup bundle)`),
        attachment,
      };
}

function danglingFinding(tree: EtcdImageTree): Finding {
  return warning(`${tree.dangling.length} alias(es) point at no image etcd holds and are not copied (21.09 cannot start them either): ${listed(tree.dangling, (d) => `${d.alias} ${d.reason}`)}`);
}

/** What etcd holds of the images, and the revision of the cluster it was read at or after. */
interface EtcdImages {
  readonly revision: string;
  readonly all: Record<string, string>;
  readonly tree: EtcdImageTree;
}

/**
 * One read of the image tree per etcd revision: preflight, backup, apply and verify of one run
 * each need it, and on a large registry reading and parsing it is most of the step's time. etcd's
 * revision moves with every write anywhere in the cluster, so a tree read at or after revision R
 * is still what etcd holds while the revision is R.
 */
const imagesRead = new WeakMap<Deployment, { revision: string; read: Promise<EtcdImages> }>();

async function readEtcdImages(deployment: Deployment): Promise<EtcdImages> {
  const { header } = await deployment.bounded('etcd', deployment.etcd.get('images/').exec());
  const cached = imagesRead.get(deployment);
  // Steps' preflights run side by side: the second asker waits for the first one's read.
  if (cached && cached.revision === header.revision) return cached.read;
  const read = readAt(deployment, header.revision);
  imagesRead.set(deployment, { revision: header.revision, read });
  // A failed read is not kept: the next asker reads again.
  read.catch(() => imagesRead.get(deployment)?.read === read && imagesRead.delete(deployment));
  return read;
}

async function readAt(deployment: Deployment, revision: string): Promise<EtcdImages> {
  // Keys are grouped by tag as each page is decoded, while etcd reads the next one.
  const collector = new ImageTreeCollector();
  const [all, registries] = await Promise.all([deployment.etcdPrefix('images/', { onEntry: (key, value) => collector.add(key, value) }), deployment.etcdPrefix('config/docker/registry/')]);
  return { revision, all, tree: collector.finish(registries) };
}

/** Reads the etcd image database of 21.09 as the 21.09 manager reads it (see image-tree.ts). */
export async function readImageTree(deployment: Deployment): Promise<EtcdImageTree> {
  return (await readEtcdImages(deployment)).tree;
}

/** Every key under etcd images/ with its value (the backup, the prune step's counts). */
export async function readImageKeys(deployment: Deployment): Promise<Record<string, string>> {
  return (await readEtcdImages(deployment)).all;
}
