/**
 * manager.toml read with smol-toml, a complete TOML 1.0 parser, into plain values: integers past
 * 2^53 stay exact (as their digits), date-times stay text (nothing bai-migrate reads is a date).
 * Errors name the line and column, because the operator fixes the file by hand.
 */
import { parse, TomlDate, TomlError as SmolTomlError } from 'smol-toml';

export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

export class TomlError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`line ${line}, column ${column}: ${message}`);
    this.name = 'TomlError';
  }
}

export function parseToml(text: string): TomlTable {
  let parsed: unknown;
  try {
    parsed = parse(text, { integersAsBigInt: 'asNeeded' });
  } catch (error) {
    if (!(error instanceof SmolTomlError)) throw error;
    const reason = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    throw new TomlError(reason, error.line, error.column);
  }
  return plain(parsed) as TomlTable;
}

function plain(value: unknown): TomlValue {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof TomlDate) return value.toISOString();
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value as TomlValue;
}

export function isTable(value: TomlValue | undefined): value is TomlTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
