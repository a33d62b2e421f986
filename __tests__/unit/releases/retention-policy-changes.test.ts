import { describe, expect, it } from 'vitest';
import { parseRetentionPolicyChanges, retentionIntervalText } from '../../../src/releases/retention-policy-changes.js';

describe('retention-policies', () => {
  it('reads category=duration, =on and =off, separated by commas or newlines', () => {
    const changes = parseRetentionPolicyChanges('sessions=90d, logs=1yr\nusage_records=off,login=on');
    expect(changes.map((c) => [c.category, c.enabled, c.retention?.text])).toEqual([
      ['sessions', true, '90d'],
      ['logs', true, '1yr'],
      ['usage_records', false, undefined],
      ['login', true, undefined],
    ]);
    expect(parseRetentionPolicyChanges('')).toEqual([]);
    expect(parseRetentionPolicyChanges(' , \n')).toEqual([]);
  });

  it('names every bad item at once, with what is accepted', () => {
    expect(() => parseRetentionPolicyChanges('sesions=90d, logs=1y, logs=2d, usage_buckets, login=6h')).toThrow(
      /^retention-policies: "sesions=90d": sesions is not a retention policy category; "logs=1y": retention "1y" is in an unknown unit; .*; "usage_buckets" is not category=duration, category=on or category=off; "login=6h": retention "6h" is under one day, .*; accepted: category=duration .*; categories: logs, login, reconcile_history, roles_invitations, deployments, sessions, usage_records, usage_buckets$/,
    );
    expect(() => parseRetentionPolicyChanges('logs=2d, logs=off')).toThrow(/"logs=off": logs is named twice/);
    expect(() => parseRetentionPolicyChanges('logs=0')).toThrow(/"logs=0": retention "0" is zero/);
  });

  it('stores a retention as an interval the manager reads back to the same length', () => {
    const text = (input: string) => retentionIntervalText(parseRetentionPolicyChanges(`logs=${input}`)[0]!.retention!);
    expect(text('90d')).toBe('90 days');
    expect(text('1.5d')).toBe('1 days 43200 seconds');
    expect(text('2w')).toBe('14 days');
    expect(text('3mo')).toBe('3 mons');
    expect(text('1yr')).toBe('1 years');
    expect(text('18mo')).toBe('1 years 6 mons');
    expect(text('86400')).toBe('1 days');
    expect(text('90000s')).toBe('1 days 3600 seconds');
  });
});
