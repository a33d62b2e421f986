/**
 * The retention of `backend.ai mgr clear-history -r`, with the manager's own semantics
 * (ai.backend.common.validators.TimeDuration): a bare number is seconds; w, d, h, m (minutes)
 * take fractions; mo and yr take whole numbers and are calendar arithmetic; s exists from the
 * release the clear-history policy table says (22.09.0). bai-migrate also bounds it: zero would
 * delete every finished kernel, under a day is refused unless asked for (allow-short-retention),
 * and beyond 100 years PostgreSQL's interval arithmetic fails only once the run has started.
 */
import { invalidInput } from '../core/errors.js';
import { clearHistoryPolicy, SECONDS_UNIT_SINCE } from './line-facts.js';
import type { Release } from './releases.js';

export type Retention = { readonly text: string; readonly kind: 'seconds'; readonly seconds: number } | { readonly text: string; readonly kind: 'months'; readonly months: number };

const SECONDS_PER_UNIT: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };

const DAY_SECONDS = SECONDS_PER_UNIT.d!;
const MAX_YEARS = 100;
/** 100 years of 365.25 days, as seconds (36525d); as calendar units, 1200mo or 100yr. */
const MAX_SECONDS = MAX_YEARS * 365.25 * DAY_SECONDS;
const MAX_MONTHS = MAX_YEARS * 12;

/** The line part of the first release with the `s` unit, e.g. "22.09". */
const SECONDS_UNIT_LINE = SECONDS_UNIT_SINCE.split('.').slice(0, 2).join('.');

const ACCEPTED =
  `accepted: a number of seconds ("86400"), or a number with a unit: w, d, h, m (minutes), s (${SECONDS_UNIT_LINE}+) such as "3d" or "1.5d", or a whole number of mo or yr such as "3mo", "1yr"; ` +
  `from one day (1d, 86400) to ${MAX_YEARS} years (${MAX_YEARS}yr, ${MAX_MONTHS}mo, ${MAX_SECONDS / DAY_SECONDS}d or ${MAX_SECONDS}), or more than zero but under a day with allow-short-retention: true`;

export type RetentionOptions = ({ readonly secondsUnit?: boolean } | { readonly release: Release }) & {
  /** Accepts a retention under one day (allow-short-retention); zero is refused all the same. */
  readonly allowShort?: boolean;
};

/**
 * `secondsUnit` says whether `s` is accepted; `release` takes that from the release's clear-history
 * policy. Without either, `s` is refused, as by the oldest manager.
 */
export function parseRetention(input: string, options: RetentionOptions = {}): Retention {
  const secondsUnit = 'release' in options ? clearHistoryPolicy(options.release).secondsUnit : (options.secondsUnit ?? false);
  const text = input.trim();
  const reject = (why: string) => invalidInput(`retention "${text}" is ${why}; ${ACCEPTED}`);
  // Zero, more than 100 years and (unless allowed) under a day, refused before anything runs.
  const bounded = (retention: Retention): Retention => {
    const [size, max] = retention.kind === 'months' ? [retention.months, MAX_MONTHS] : [retention.seconds, MAX_SECONDS];
    if (size === 0) throw reject('zero, which would delete every finished kernel');
    // Also refuses a number too large to be finite ("1e999").
    if (!(size <= max)) throw reject(`more than ${MAX_YEARS} years`);
    // A calendar unit is a month at least.
    if (retention.kind === 'seconds' && size < DAY_SECONDS && !options.allowShort) throw reject('under one day, which would delete kernels that finished only hours ago');
    return retention;
  };
  if (text === '') throw reject('empty');
  if (/\d$/.test(text)) {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw reject('not a number');
    const seconds = Number(text);
    if (seconds < 0) throw reject('negative');
    return bounded({ text, kind: 'seconds', seconds });
  }
  const calendar = /^([+-]?\d+)(mo|yr)$/.exec(text);
  if (calendar) {
    const count = Number(calendar[1]);
    if (count < 0) throw reject('negative');
    return bounded({ text, kind: 'months', months: calendar[2] === 'yr' ? count * 12 : count });
  }
  if (/[A-Za-z]{2}$/.test(text)) {
    throw reject(/^[+-]?\d*\.\d*(mo|yr)$/.test(text) ? 'a fraction of a calendar unit' : 'in an unknown unit');
  }
  const unit = text.slice(-1);
  const count = text.slice(0, -1);
  if (!(unit in SECONDS_PER_UNIT)) throw reject('in an unknown unit');
  if (unit === 's' && !secondsUnit) throw reject(`in seconds ("s"), which the manager accepts only from ${SECONDS_UNIT_LINE}`);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(count)) throw reject('not a number with a unit');
  const value = Number(count);
  if (value < 0) throw reject('negative');
  return bounded({ text, kind: 'seconds', seconds: value * SECONDS_PER_UNIT[unit]! });
}
