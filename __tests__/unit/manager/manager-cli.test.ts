/** The manager CLI's command lines per release, and the Redis failure its clear-history hides. */
import { describe, expect, it } from 'vitest';
import { clearHistoryArgs, hiddenRedisFailure, imageRescanArgs } from '../../../src/manager/cli.js';

describe('the manager CLI', () => {
  it('rescans a registry with the command of the release that runs it', () => {
    expect(imageRescanArgs('22.03', 'cr.backend.ai')).toEqual(['mgr', 'image', 'rescan', 'cr.backend.ai']);
    expect(imageRescanArgs('21.09', 'cr.backend.ai')).toEqual(['mgr', 'etcd', 'rescan-images', 'cr.backend.ai']);
  });

  it('passes -v a value, as the manager requires, true only for a full vacuum', () => {
    expect(clearHistoryArgs('90d', 'none')).toEqual(['mgr', 'clear-history', '-r', '90d', '-v', 'false']);
    expect(clearHistoryArgs('1yr', 'full')).toEqual(['mgr', 'clear-history', '-r', '1yr', '-v', 'true']);
  });

  it('finds the Redis failure the manager logs and exits 0 for, with the exception that caused it', () => {
    const log = [
      '2026-11-24 03:30:01.120 INFO ai.backend.manager.cli [1] Deleting old records...',
      '2026-11-24 03:30:02.481 INFO ai.backend.manager.cli [1] Cleaned up 1043 database records.',
      '2026-11-24 03:30:02.503 ERROR ai.backend.manager.cli [1] Unexpected error while cleaning up redis history',
      'Traceback (most recent call last):',
      '  File "/opt/backend.ai/lib/python3.10/site-packages/ai/backend/manager/cli/__main__.py", line 190, in _clear_redis_history',
      '    await redis_conn.execute(...)',
      "redis.exceptions.ResponseError: unknown command 'CONFIG', with args beginning with: 'GET' 'appendonly'",
    ].join('\n');
    expect(hiddenRedisFailure(log)).toBe(
      "2026-11-24 03:30:02.503 ERROR ai.backend.manager.cli [1] Unexpected error while cleaning up redis history (redis.exceptions.ResponseError: unknown command 'CONFIG', with args beginning with: 'GET' 'appendonly')",
    );
    expect(hiddenRedisFailure(log.split('\n').slice(0, 2).join('\n'))).toBeUndefined();
  });
});
