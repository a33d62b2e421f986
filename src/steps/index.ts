/** The steps of each hop, in the order the upgrade guide gives them. */
import { servicesStopped } from './services-stopped.js';
import { schema } from './schema.js';
import { concurrencyToRedis } from './concurrency-to-redis.js';
import { redisPersistence } from './redis-persistence.js';
import { imageMetadata } from './image-metadata.js';
import { distributedLock } from './distributed-lock.js';
import { pruneEtcdImages } from './prune-etcd-images.js';
import { imageRescan } from './image-rescan.js';
import { lastStatSync } from './last-stat-sync.js';
import { clearHistorySchedule, storageProxy } from './guide-notes.js';
import type { Step } from './step.js';

/** Steps of a major hop, keyed "from→to"; a patch upgrade within a series only runs the schema. */
export const HOP_STEPS: Readonly<Record<string, readonly Step[]>> = {
  '21.03→21.09': [servicesStopped, schema],
  '21.09→22.03': [
    servicesStopped,
    schema,
    concurrencyToRedis,
    lastStatSync,
    redisPersistence,
    imageMetadata,
    imageRescan,
    pruneEtcdImages,
    distributedLock,
    storageProxy,
    clearHistorySchedule,
  ],
};

export const PATCH_STEPS: readonly Step[] = [servicesStopped, schema];

/** Every table a step reads or writes, and kernels for clear-history: the rows a rehearsal needs. */
export const TABLES_STEPS_TOUCH: readonly string[] = [
  ...new Set([...Object.values(HOP_STEPS).flat(), ...PATCH_STEPS].flatMap((step) => step.tables ?? []).concat('kernels')),
];
