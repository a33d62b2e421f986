/** Each finding is printed once as it is found; a warning verify repeats from preflight is annotated once. */
import { describe, expect, it } from 'vitest';
import { MemoryLogger } from '../../../src/core/logger.js';
import { parseOptions } from '../../../src/options/index.js';
import { newReport } from '../../../src/core/report/index.js';
import { Session } from '../../../src/commands/session.js';
import type { Deployment } from '../../../src/stores/deployment.js';

describe('Session.record', () => {
  it('annotates a warning once: the same one found again in a later phase is logged as a line, and the report keeps both rows', () => {
    const log = new MemoryLogger();
    const report = newReport('migrate', false);
    const session = new Session(parseOptions({ command: 'migrate', 'to-version': '22.03' }), { targets: {} } as Deployment, report, new Set(), log);
    const dangling = { hop: '21.09 → 22.03', step: 'image-metadata', status: 'warning' as const, detail: 'alias python points at no image' };
    session.record({ phase: 'preflight', ...dangling });
    session.record({ phase: 'verify', ...dangling });
    session.record({ phase: 'verify', ...dangling, detail: 'another warning' });
    expect(log.lines).toEqual([
      'warning: 21.09 → 22.03 image-metadata: alias python points at no image',
      'warning (as in an earlier phase): 21.09 → 22.03 image-metadata: alias python points at no image',
      'warning: 21.09 → 22.03 image-metadata: another warning',
    ]);
    expect(report.entries.map((e) => e.phase)).toEqual(['preflight', 'verify', 'verify']);
  });
});
