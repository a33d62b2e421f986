/**
 * Each hop's plan, as `plan --from-version <from> --to-version <to>` prints it offline, against its
 * golden file (__tests__/golden/plan/<from>-<to>.txt). After an intended change: npm run goldens
 * (or UPDATE_GOLDEN=1 npx vitest run --project unit), then review the diff.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PLAN_GOLDEN_DIR, PLAN_GOLDENS, renderPlanGolden } from '../support/plan-golden.js';

describe('plan golden files', () => {
  it.each(PLAN_GOLDENS)('$from → $to prints its golden file', async ({ from, to, file }) => {
    const text = await renderPlanGolden(from, to);
    const golden = join(PLAN_GOLDEN_DIR, file);
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, text);
    expect(existsSync(golden), `${file} is missing: run npm run goldens`).toBe(true);
    expect(text).toBe(readFileSync(golden, 'utf8'));
  });

  it('has a golden file for every hop and none for a hop that is gone', () => {
    expect(readdirSync(PLAN_GOLDEN_DIR).sort()).toEqual(PLAN_GOLDENS.map((g) => g.file).sort());
  });
});
