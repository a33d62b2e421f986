import { describe, expect, it } from 'vitest';
import { managerRedisCount } from '../../../src/commands/clear-history.js';

describe("the 25.19+ manager's own Redis count, read from its log", () => {
  it('reads the number with its thousands separators, and none logged as none removed', () => {
    // The line as backend.ai-manager 25.19.2 logs it ("Cleaned up {:,} redis statistics records older than {:}.").
    const line = '2026-01-20 03:30:01.112 INFO ai.backend.manager.cli [7] Cleaned up 12,345 redis statistics records older than 2025-12-21 03:30:00.871234.';
    expect(managerRedisCount(`starting\n${line}\nIssued BGSAVE to the Redis database.`)).toBe(12345);
    expect(managerRedisCount('Cleaned up 38 redis statistics records older than 2025-12-21.')).toBe(38);
    // Logged only when some kernel terminated before the cutoff.
    expect(managerRedisCount('Issued BGSAVE to the Redis database.\nCleaned up 0 database records older than 2025-12-21.')).toBe(0);
  });
});
