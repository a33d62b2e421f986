/** How the rehearsal judges a hop's growth from its times at two sizes of the history. */
import { describe, expect, it } from 'vitest';
import { compareSizes, GROWTH_TOLERANCE, hopTimes, judgeGrowth, MIN_JUDGED_MS } from '../../../src/rehearsal/growth.js';

describe('judging growth from two sizes', () => {
  it.each([
    // fullMs, smallerMs, rowRatio, verdict
    [10_000, 5_000, 2, 'not faster than the data'], // linear
    [10_000, 8_000, 2, 'not faster than the data'], // mostly fixed cost
    [12_400, 5_000, 2, 'not faster than the data'], // within the tolerance of linear
    [12_600, 5_000, 2, 'faster than the data'], // just past it
    [20_000, 5_000, 2, 'faster than the data'], // quadratic
    [40_000, 10_000, 4, 'not faster than the data'], // linear over 4× the rows
    [90_000, 10_000, 3, 'faster than the data'], // quadratic over 3× the rows
    [900, 100, 2, 'too short'], // under a second: noise
    [MIN_JUDGED_MS, 0, 2, 'faster than the data'], // a hop that took no time at the smaller size
  ] as const)('%i ms against %i ms for %f× the rows: %s', (fullMs, smallerMs, rowRatio, verdict) => {
    expect(judgeGrowth(fullMs, smallerMs, rowRatio)).toBe(verdict);
  });

  it('uses a tolerance above 1: a hop exactly linear in the rows is never flagged', () => {
    expect(GROWTH_TOLERANCE).toBeGreaterThan(1);
    for (const ratio of [1.5, 2, 3, 10]) expect(judgeGrowth(10_000 * ratio, 10_000, ratio)).toBe('not faster than the data');
  });

  it('sums each hop’s steps (apply and verify) and its schema step, leaving out the backup', () => {
    const times = hopTimes([
      { step: 'backup', startMs: 0, applyMs: 500, verifyMs: 0 },
      { hop: 'a', step: 'schema', startMs: 500, applyMs: 3_000, verifyMs: 100 },
      { hop: 'a', step: 'concurrency-to-redis', startMs: 3_600, applyMs: 400, verifyMs: 50 },
      { hop: 'b', step: 'schema', startMs: 4_050, applyMs: 1_000, verifyMs: 0 },
    ]);
    expect([...times]).toEqual([
      ['a', { totalMs: 3_550, schemaMs: 3_100 }],
      ['b', { totalMs: 1_000, schemaMs: 1_000 }],
    ]);
  });

  it('compares hop by hop, against the ratio of the history rows', () => {
    const at = (hop: string, applyMs: number) => ({ hop, step: 'schema', startMs: 0, applyMs, verifyMs: 0 });
    const growth = compareSizes({ rows: 30_000, timings: [at('a', 9_000), at('b', 60_000)] }, { rows: 10_000, timings: [at('a', 3_500), at('b', 6_000)] });
    expect(growth).toEqual({
      rows: { full: 30_000, smaller: 10_000 },
      hops: [
        { hop: 'a', fullMs: 9_000, smallerMs: 3_500, schemaFullMs: 9_000, schemaSmallerMs: 3_500, verdict: 'not faster than the data' },
        { hop: 'b', fullMs: 60_000, smallerMs: 6_000, schemaFullMs: 60_000, schemaSmallerMs: 6_000, verdict: 'faster than the data' },
      ],
    });
  });
});
