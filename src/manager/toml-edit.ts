/**
 * Sets one key of a TOML table in place, so that an operator's manager.toml keeps its comments,
 * order and layout: only the key's own line changes, or one line is added.
 */
import { parseToml } from './toml.js';

const HEADER = /^\s*\[([^\][]+)\]\s*(#.*)?$/;

/** Returns the new text with `table.key = value`; the result is parsed to prove it is valid. */
export function setTomlValue(text: string, table: string, key: string, value: string | boolean): string {
  const lines = text.split('\n');
  const assignment = `${key} = ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`;
  const keyLine = new RegExp(`^(\\s*)${escapeRegExp(key)}\\s*=\\s*(?:"[^"]*"|'[^']*'|[^\\s#]+)(\\s*#.*)?$`);
  const start = lines.findIndex((line) => HEADER.exec(line)?.[1]?.trim() === table);
  let result: string[];
  if (start < 0) {
    const trailing = text.endsWith('\n') ? '' : '\n';
    return validate(`${text}${trailing}\n[${table}]\n${assignment}\n`);
  }
  let end = lines.findIndex((line, i) => i > start && HEADER.test(line));
  if (end < 0) end = lines.length;
  const existing = lines.findIndex((line, i) => i > start && i < end && keyLine.test(line));
  if (existing >= 0) {
    result = [...lines];
    result[existing] = lines[existing]!.replace(keyLine, (_, indent: string, comment = '') => `${indent}${assignment}${comment}`);
  } else {
    // Beside a commented-out default (`# distributed-lock = …`) if there is one, else after the header.
    const commented = lines.findIndex((line, i) => i > start && i < end && new RegExp(`^\\s*#\\s*${escapeRegExp(key)}\\s*=`).test(line));
    const at = commented >= 0 ? commented + 1 : start + 1;
    result = [...lines.slice(0, at), assignment, ...lines.slice(at)];
  }
  return validate(result.join('\n'));
}

/**
 * Replaces a whole table (its header line up to the next header) with `body`, or appends it. For
 * copies of manager.toml that must point somewhere else; comments inside the table go with it.
 */
export function replaceTomlTable(text: string, table: string, body: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => HEADER.exec(line)?.[1]?.trim() === table);
  const section = [`[${table}]`, ...body.trimEnd().split('\n'), ''];
  if (start < 0) return validate(`${text}${text.endsWith('\n') ? '' : '\n'}\n${section.join('\n')}`);
  let end = lines.findIndex((line, i) => i > start && HEADER.test(line));
  if (end < 0) end = lines.length;
  return validate([...lines.slice(0, start), ...section, ...lines.slice(end)].join('\n'));
}

function validate(text: string): string {
  parseToml(text);
  return text;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
}
