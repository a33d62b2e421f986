/** An SQL identifier, always quoted: names come from the catalogue of a database we do not control. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
