import pg from 'pg';

/** An SQL identifier, always quoted (pg's own escaping): names come from the catalogue of a database we do not control. */
export function quoteIdent(name: string): string {
  return pg.escapeIdentifier(name);
}
