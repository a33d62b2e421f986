/**
 * The `retention-policies` input: the one way bai-migrate changes a release's retention policies
 * (26.8.0 and later: the `retention_policies` rows the manager's clear-history sweeps). `retention`
 * never changes one; it governs only the Redis part there, as the manager's `-r` does.
 *
 *   sessions=90d, logs=1yr, usage_records=off, login=on
 *
 * `category=duration` enables the category with that retention; `on` enables it with the retention
 * it has; `off` disables it and keeps its retention. Durations are written as `retention`'s; each is
 * stored as a PostgreSQL interval the manager reads back to the same length (`3mo` as `3 mons`, which
 * the manager reads as 90 days: src/releases/retention-sweep.ts, managerPeriodSeconds).
 */
import { invalidInput } from '../core/errors.js';
import { parseRetention, type Retention } from './retention.js';
import { RETENTION_CATEGORIES, type RetentionCategoryName } from './retention-sweep.js';

export interface RetentionPolicyChange {
  readonly category: RetentionCategoryName;
  readonly enabled: boolean;
  /** The new retention; undefined keeps the row's. */
  readonly retention?: Retention;
}

const EXAMPLE = '"sessions=90d, logs=1yr, usage_records=off"';
const ACCEPTED = `accepted: category=duration (enable it with that retention), category=on (enable it as it is) or category=off, separated by commas or newlines, e.g. ${EXAMPLE}; categories: ${RETENTION_CATEGORIES.join(', ')}`;

/** Reads the input; every problem is named at once, with where it is and what is accepted. */
export function parseRetentionPolicyChanges(value: string): RetentionPolicyChange[] {
  const items = value
    .split(/[,\n]/)
    .map((item) => item.trim())
    .filter((item) => item !== '');
  const problems: string[] = [];
  const changes: RetentionPolicyChange[] = [];
  for (const item of items) {
    const match = /^([A-Za-z_]+)\s*=\s*(\S+)$/.exec(item);
    if (!match) {
      problems.push(`"${item}" is not category=duration, category=on or category=off`);
      continue;
    }
    const [, name, setting] = match as unknown as [string, string, string];
    const category = RETENTION_CATEGORIES.find((c) => c === name);
    if (!category) {
      problems.push(`"${item}": ${name} is not a retention policy category`);
      continue;
    }
    if (changes.some((c) => c.category === category)) {
      problems.push(`"${item}": ${category} is named twice`);
      continue;
    }
    if (setting === 'on' || setting === 'off') {
      changes.push({ category, enabled: setting === 'on' });
      continue;
    }
    try {
      // From 26.8 the manager's durations take seconds too; under a day a policy would sweep what is still in use.
      changes.push({ category, enabled: true, retention: parseRetention(setting, { secondsUnit: true }) });
    } catch (error) {
      problems.push(`"${item}": ${(error as Error).message}`);
    }
  }
  if (items.length > 0 && changes.length === 0 && problems.length === 0) problems.push('no change is given');
  if (problems.length > 0) throw invalidInput(`retention-policies: ${problems.join('; ')}; ${ACCEPTED}`);
  return changes;
}

/**
 * The interval stored for a retention: calendar months as months (the manager reads 30 days each,
 * 365 per 12), else whole days and the seconds left over.
 */
export function retentionIntervalText(retention: Retention): string {
  if (retention.kind === 'months') {
    const years = Math.floor(retention.months / 12);
    const months = retention.months % 12;
    return [years > 0 ? `${years} years` : '', months > 0 ? `${months} mons` : ''].filter(Boolean).join(' ');
  }
  const days = Math.floor(retention.seconds / 86400);
  const seconds = retention.seconds - days * 86400;
  return [days > 0 ? `${days} days` : '', seconds > 0 ? `${seconds} seconds` : ''].filter(Boolean).join(' ');
}
