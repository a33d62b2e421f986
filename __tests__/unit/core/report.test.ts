import { describe, expect, it } from 'vitest';
import { newReport, redact, renderMarkdown, renderText } from '../../../src/core/report/index.js';

describe('report', () => {
  const report = newReport('preflight', true);
  report.fromVersion = '21.09';
  report.toVersion = '22.03.14';
  report.entries.push(
    { phase: 'preflight', hop: '21.09 → 22.03', step: 'services-stopped', status: 'ok', detail: 'no manager | none' },
    { phase: 'preflight', hop: '21.09 → 22.03', step: 'image-metadata', status: 'failed', detail: 'registry\nempty' },
  );

  it('renders a job summary table with escaped cells and status counts', () => {
    const md = renderMarkdown(report);
    expect(md).toContain('## ✅ bai-migrate preflight (dry run): succeeded');
    expect(md).toContain('| preflight | 21.09 → 22.03 | services-stopped | ✅ ok | no manager \\| none |');
    expect(md).toContain('| preflight | 21.09 → 22.03 | image-metadata | ❌ failed | registry<br>empty |');
    expect(md).toContain('✅ 1 ok · 🛠️ 0 changed · ⚠️ 0 warning · ❌ 1 failed · ⏭️ 0 skipped');
  });

  it('a migrate that changed nothing says so in its headline; one that changed something does not', () => {
    const again = newReport('migrate', false);
    again.entries.push({ phase: 'apply', hop: '21.09 → 22.03', step: 'schema', status: 'ok', detail: 'already at 81c264528f20' });
    expect(renderMarkdown(again)).toContain('## ✅ bai-migrate migrate: already at the target, nothing to do');
    expect(renderText(again, { logged: true })).toContain('Result: success (already at the target, nothing to do)');
    again.entries.push({ phase: 'apply', hop: '21.09 → 22.03', step: 'image-metadata', status: 'changed', detail: 'wrote 5 image rows' });
    expect(renderMarkdown(again)).toContain('## ✅ bai-migrate migrate: succeeded');
  });

  it("counts a dry run's changes to come apart from its skips", () => {
    const dry = newReport('migrate', true);
    dry.entries.push(
      { phase: 'apply', step: 'schema', status: 'skipped', detail: 'dry run: would run alembic upgrade a → b' },
      { phase: 'apply', step: 'image-rescan', status: 'skipped', detail: 'dry run: not requested' },
    );
    const md = renderMarkdown(dry);
    expect(md).toContain('| apply |  | schema | 🔍 would change | dry run: would run alembic upgrade a → b |');
    expect(md).toContain('| apply |  | image-rescan | ⏭️ skipped | dry run: not requested |');
    expect(md).toContain('⏭️ 1 skipped · 🔍 1 would change');
    expect(renderText(dry, { logged: true })).toContain('1 skipped, 1 would change');
  });

  it('keeps the summary under its size limit and says what was left out', () => {
    const big = newReport('verify', false);
    for (let i = 0; i < 100; i++) big.entries.push({ phase: 'verify', step: `s${i}`, status: 'ok', detail: 'x'.repeat(100) });
    const md = renderMarkdown(big, 2_000);
    expect(md.length).toBeLessThan(2_500);
    expect(md).toMatch(/_\d+ more rows are in the report file\._/);
  });

  it('renders text for a terminal', () => {
    expect(renderText(report)).toContain('FAILED   preflight 21.09 → 22.03 image-metadata: registry');
  });

  it('redacts secrets, longest first', () => {
    expect(redact('a hunter2 and hunter22', ['hunter2', 'hunter22'])).toBe('a *** and ***');
  });
});
