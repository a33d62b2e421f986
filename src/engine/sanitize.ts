/**
 * What a snapshot must not carry out of production, and what it puts in its place. Identities
 * (emails, user names) become pseudonyms that stay consistent within one snapshot, so a keypair
 * still points at its user; secrets (passwords, keys, tokens, environment variables) are replaced.
 * The pseudonyms are keyed by a random key that is never written, so they cannot be reversed by
 * hashing a list of known addresses.
 */
import { createHmac, randomBytes } from 'node:crypto';

export type ColumnRule = 'pseudonym' | 'secret';

const IDENTITY_COLUMNS = /^(email|user_id|username|full_name|owner_email|created_by_email)$/i;
// internal_data holds a kernel's SSH keypair and dotfiles; callback_url may carry a token.
const SECRET_COLUMNS = /(password|secret|token|private_key|ssh_public_key|credential|totp|environ|dotfiles|api_key|internal_data|callback_url)/i;
/** etcd keys whose last part names a secret: config/redis/password, volumes/proxies/{name}/secret, registry passwords. */
const SECRET_KEY_PART = /(password|secret|token|credential|private[-_]?key|api[-_]?key)/i;

export const REDACTED = 'REDACTED';

export function columnRule(column: string): ColumnRule | undefined {
  if (IDENTITY_COLUMNS.test(column)) return 'pseudonym';
  if (SECRET_COLUMNS.test(column)) return 'secret';
  return undefined;
}

const TEXT_TYPE = /^(text|character varying|character|varchar|char|citext)\b/;

export class Sanitizer {
  private readonly key = randomBytes(32);

  /**
   * The value to store for a sensitive column, given as PostgreSQL's text form. Text columns get
   * a same-kind stand-in; other types get NULL, or their empty value when the column is NOT NULL.
   */
  replace(rule: ColumnRule, type: string, notNull: boolean, value: string | null): string | null {
    if (value === null) return null;
    // Arrays first: "character varying[]" starts like a text type but needs an array literal.
    if (type.endsWith('[]')) return rule === 'pseudonym' ? value : '{}';
    if (TEXT_TYPE.test(type)) return rule === 'pseudonym' ? this.pseudonym(value) : REDACTED;
    // A user's UUID is a key, not a person: keep it so that rows still join.
    if (rule === 'pseudonym') return value;
    if (!notNull) return null;
    if (type.endsWith('[]')) return '{}';
    if (type === 'jsonb' || type === 'json') return '{}';
    if (type === 'bytea') return '\\x';
    return null;
  }

  /** The same input gives the same pseudonym within this snapshot; an email stays an email. */
  pseudonym(value: string): string {
    const digest = createHmac('sha256', this.key).update(value).digest('hex').slice(0, 12);
    return value.includes('@') ? `u-${digest}@redacted.invalid` : `u-${digest}`;
  }
}

export function isSecretEtcdKey(key: string): boolean {
  const last = key.split('/').filter((part) => part !== '').pop() ?? '';
  return SECRET_KEY_PART.test(decodeURIComponent(last));
}

/**
 * Removes a password embedded in a URL value (https://user:pass@registry). A URL that does not
 * parse (a password with a raw "/" in it) loses its whole user part.
 */
export function stripUrlPassword(value: string): string {
  try {
    const url = new URL(value);
    if (!url.password) return value;
    url.password = '';
    return url.toString();
  } catch {
    return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@\s]*:[^@\s]*@/i, '$1');
  }
}

/**
 * manager.toml with every secret-named key's value emptied (`password = ""`), layout and comments
 * kept: the [db] and [etcd] passwords, and anything else named like a secret. Returns the text and
 * the keys it emptied.
 */
export function redactToml(text: string): { text: string; redacted: string[] } {
  const redacted: string[] = [];
  const assignment = /(^|[{,\s])([A-Za-z0-9_-]*(?:password|secret|token|private[-_]?key|api[-_]?key)[A-Za-z0-9_-]*)(\s*=\s*)("(?:[^"\\\n]|\\.)*"|'[^'\n]*')/gim;
  const out = text.replace(assignment, (_match, lead: string, key: string, eq: string) => {
    redacted.push(key);
    return `${lead}${key}${eq}""`;
  });
  return { text: out, redacted: [...new Set(redacted)] };
}
