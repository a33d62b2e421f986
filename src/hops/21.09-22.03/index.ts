/** 21.09 → 22.03: every item of the upgrade guide, in its order (and the one it never wrote). */
import { servicesStopped } from '../../steps/services-stopped.js';
import { managerConnects } from '../../steps/manager-connects.js';
import { schema } from '../../steps/schema/index.js';
import { redisPersistence } from '../../steps/redis-persistence.js';
import { concurrencyToRedis } from './concurrency-to-redis.js';
import { lastStatSync } from './last-stat-sync.js';
import { imageMetadata } from './image-metadata.js';
import { imageRescan } from './image-rescan.js';
import { pruneEtcdImages } from './prune-etcd-images.js';
import { distributedLock } from './distributed-lock.js';
import { clearHistorySchedule, storageProxy } from './guide-notes.js';
import type { HopDefinition } from '../hop.js';

export const hop: HopDefinition = {
  from: '21.09',
  to: '22.03',
  steps: [
    servicesStopped,
    managerConnects,
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
