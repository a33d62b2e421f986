/**
 * 22.03 reads image metadata from PostgreSQL (tables images, image_aliases) instead of etcd's
 * images/ tree; the registry configuration stays in etcd config/docker/registry (reference §4).
 */
import { failed, ok, warning, type Finding, type Step } from './step.js';

export const imageMetadata: Step = {
  id: 'image-metadata',
  title: 'Image metadata from etcd to PostgreSQL',
  kind: 'change',
  action: 'Copies images/{registry}/{image}/{tag} and images/_aliases from etcd into the images and image_aliases tables, keeping etcd intact.',
  servers: ['etcd', 'postgres'],

  async preflight({ deployment }) {
    const findings: Finding[] = [];
    const registries = await deployment.bounded('etcd', deployment.etcd.getAll().prefix('config/docker/registry/').keys());
    const names = [...new Set(registries.map((k) => decodeURIComponent(k.split('/')[3] ?? '')))].filter((n) => n);
    findings.push(
      names.length > 0
        ? ok(`${names.length} registr${names.length === 1 ? 'y' : 'ies'} in etcd config/docker/registry: ${names.join(', ')}`)
        : failed('etcd config/docker/registry is empty: the 22.03 manager (and its image rescan) requires at least one registry there'),
    );
    const imageKeys = await deployment.bounded('etcd', deployment.etcd.getAll().prefix('images/').keys());
    const tags = imageKeys.filter((k) => !k.startsWith('images/_aliases/') && k.split('/').length === 4);
    const aliases = imageKeys.filter((k) => k.startsWith('images/_aliases/'));
    findings.push(
      tags.length > 0
        ? ok(`${tags.length} image tag(s) and ${aliases.length} alias(es) in etcd images/`)
        : warning('etcd images/ holds no image tags: nothing to copy; run an image rescan after the upgrade'),
    );
    return findings;
  },
};
