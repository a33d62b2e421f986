/**
 * The retention of `backend.ai mgr clear-history -r`, with the manager's own semantics
 * (ai.backend.common.validators.TimeDuration): a bare number is seconds; w, d, h, m (minutes)
 * take fractions; mo and yr take whole numbers and are calendar arithmetic; s exists from the
 * release the clear-history policy table says (22.09.0).
 */
import { invalidInput } from '../core/errors.js';
import { clearHistoryPolicy, SECONDS_UNIT_SINCE } from './line-facts.js';
import type { Release } from './releases.js';

export type Retention = { readonly text: string; readonly kind: 'seconds'; readonly seconds: number } | { readonly text: string; readonly kind: 'months'; readonly months: number };

const SECONDS_PER_UNIT: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };

/** The line part of the first release with the `s` unit, e.g. "22.09". */
const SECONDS_UNIT_LINE = SECONDS_UNIT_SINCE.split('.').slice(0, 2).join('.');

const ACCEPTED = `accepted: a number of seconds ("86400"), or a number with a unit: w, d, h, m (minutes), s (${SECONDS_UNIT_LINE}+) such as "3d" or "0.5d", or a whole number of mo or yr such as "3mo", "1yr"`;

/**
 * `secondsUnit` says whether `s` is accepted; `release` takes that from the release's clear-history
 * policy. Without either, `s` is refused, as by the oldest manager.
 */
export function parseRetention(input: string, options: { secondsUnit: boolean } | { release: Release } = { secondsUnit: false }): Retention {
  const secondsUnit = 'release' in options ? clearHistoryPolicy(options.release).secondsUnit : options.secondsUnit;
  const text = input.trim();
  const reject = (why: string) => invalidInput(`retention "${text}" is ${why}; ${ACCEPTED}`);
  if (text === '') throw reject('empty');
  if (/\d$/.test(text)) {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw reject('not a number');
    const seconds = Number(text);
    if (seconds < 0) throw reject('negative');
    return { text, kind: 'seconds', seconds };
  }
  const calendar = /^([+-]?\d+)(mo|yr)$/.exec(text);
  if (calendar) {
    const count = Number(calendar[1]);
    if (count < 0) throw reject('negative');
    return { text, kind: 'months', months: calendar[2] === 'yr' ? count * 12 : count };
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
  return { text, kind: 'seconds', seconds: value * SECONDS_PER_UNIT[unit]! };
}
