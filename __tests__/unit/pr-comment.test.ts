/**
 * The rehearsal's pull-request comment, as a golden file: the report of a real rehearsal (21.09 →
 * 22.03 of a seeded deployment) renders to exactly __tests__/fixtures/rehearsal/comment.md.
 * After an intended change: UPDATE_GOLDEN=1 npx vitest run --project unit, then review the diff.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commentMarker, rehearsalComment } from '../../src/github/pr-comment.js';
import type { Report } from '../../src/engine/report.js';

const FIXTURES = join(import.meta.dirname, '../fixtures/rehearsal');
const report = JSON.parse(readFileSync(join(FIXTURES, 'report.json'), 'utf8')) as Report;

describe('the rehearsal comment', () => {
  it('matches the golden file', () => {
    const { body } = rehearsalComment(report);
    if (process.env.UPDATE_GOLDEN) writeFileSync(join(FIXTURES, 'comment.md'), body);
    expect(body).toBe(readFileSync(join(FIXTURES, 'comment.md'), 'utf8'));
  });

  it('starts with the hidden marker of its deployment, which the next rehearsal finds', () => {
    const { marker, body } = rehearsalComment(report);
    expect(marker).toBe(commentMarker(report.rehearsal!.namespace));
    expect(body.split('\n')[0]).toBe(marker);
  });

  it('stays under GitHub’s 65,536-character limit when the offline SQL is huge', () => {
    const sql = report.attachments.find((a) => a.name.endsWith('--sql'))!;
    const huge: Report = { ...report, attachments: [{ ...sql, content: 'SELECT 1;\n'.repeat(20_000) }] };
    const { body } = rehearsalComment(huge);
    expect(body.length).toBeLessThan(65_536);
    expect(body).toContain('-- … cut to fit a comment; the whole SQL is in the report file');
  });

  it('shows the error of a failed rehearsal first', () => {
    const failed: Report = { ...report, outcome: 'failure', error: 'the migration failed in the rehearsal: 21.09 → 22.03 schema failed: alembic exited with 1' };
    const { body } = rehearsalComment(failed);
    expect(body).toContain('## ❌ Migration rehearsal 21.09 → 22.03.14: failed');
    expect(body.indexOf('**Error:**')).toBeLessThan(body.indexOf('### Plan'));
  });
});
