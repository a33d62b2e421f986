/**
 * Opt-in: once the image metadata is in PostgreSQL and verified, etcd's images/ tree is dead
 * weight (22.03 never reads it). It is deleted only after the import verifies again, and only
 * after the backup bundle, which always holds the whole tree (image-metadata's backup), is written.
 */
import { imageMetadata, readImageKeys } from './image-metadata.js';
import { changed, failed, ok, skipped, type Step } from '../../steps/step.js';

export const pruneEtcdImages: Step = {
  id: 'prune-etcd-images',
  title: "Prune etcd's old image tree",
  kind: 'change',
  action: 'With prune-etcd-images: true, deletes etcd images/ after the import into PostgreSQL has verified; the backup bundle keeps every key.',
  servers: ['etcd', 'postgres'],

  async preflight({ settings, deployment }) {
    const keys = Object.keys(await readImageKeys(deployment)).length;
    if (!settings.pruneEtcdImages) return [skipped(`not requested: the ${keys} key(s) under etcd images/ stay; 22.03 does not read them`)];
    return [ok(`will delete the ${keys} key(s) under etcd images/ once the import has verified; the backup bundle keeps them`)];
  },

  async dryRun({ settings, deployment }) {
    if (!settings.pruneEtcdImages) return [skipped('not requested')];
    return [ok(`would delete ${Object.keys(await readImageKeys(deployment)).length} key(s) under etcd images/ after verifying the import`)];
  },

  async apply(ctx) {
    if (!ctx.settings.pruneEtcdImages) return skipped('not requested: etcd images/ left as it is');
    const keys = Object.keys(await readImageKeys(ctx.deployment)).length;
    if (keys === 0) return ok('etcd images/ is already empty');
    const problems = (await imageMetadata.verify!(ctx)).filter((f) => f.status === 'failed');
    if (problems.length > 0) return failed(`not pruning: the import does not verify (${problems.map((p) => p.detail).join('; ')})`);
    await ctx.deployment.bounded('etcd', ctx.deployment.etcd.delete().prefix('images/').exec());
    return changed(`deleted ${keys} key(s) under etcd images/ (they are in the backup bundle)`);
  },

  async verify({ settings, deployment }) {
    if (!settings.pruneEtcdImages) return [skipped('not requested')];
    const left = Object.keys(await readImageKeys(deployment)).length;
    return [left === 0 ? ok('etcd images/ is empty') : failed(`${left} key(s) are still under etcd images/`)];
  },
};
