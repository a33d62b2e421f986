/**
 * Values as the manager's Python reads them, for the hops that read what the manager wrote: one
 * owner, so that no hop imports another hop's module.
 */

/** Python's urllib.parse.unquote: %XX runs decoded as UTF-8 (U+FFFD for bad bytes), anything else kept. */
export function pyUnquote(text: string): string {
  if (!text.includes('%')) return text;
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => Buffer.from(run.replaceAll('%', ''), 'hex').toString('utf8'));
}
