/**
 * What the 24.03 → 24.09 tests put into a deployment besides the seeded cr.backend.ai: a Harbor
 * registry with two projects and a robot account in etcd config/docker/registry, and an image of
 * one of its projects in PostgreSQL, which 24.09's 1d42c726d8a3 links to that project's row.
 */
import type pg from 'pg';
import type { Namespace } from 'etcd3';

export const HARBOR = { name: 'registry.example.com', url: 'https://registry.example.com', projects: ['ml', 'research'], username: 'robot' } as const;
export const HARBOR_IMAGE = `${HARBOR.name}/research/llm:1.0`;

/** `etcd` is the deployment's namespace; `password` too, where a test wants the credentials whole. */
export async function putHarbor(etcd: Namespace, client: pg.Client, password?: string): Promise<void> {
  const key = `config/docker/registry/${HARBOR.name}`;
  await etcd.put(key).value(HARBOR.url);
  await etcd.put(`${key}/type`).value('harbor2');
  await etcd.put(`${key}/project`).value(HARBOR.projects.join(','));
  await etcd.put(`${key}/username`).value(HARBOR.username);
  if (password) await etcd.put(`${key}/password`).value(password);
  await client.query(
    `INSERT INTO images (name, image, tag, registry, architecture, config_digest, size_bytes, type, labels, resources)
     VALUES ($1, 'research/llm', '1.0', $2, 'x86_64', repeat('0', 72), 1, 'COMPUTE', '{}', '{}')`,
    [HARBOR_IMAGE, HARBOR.name],
  );
}
