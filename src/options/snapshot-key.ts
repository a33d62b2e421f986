/** snapshot-key, read while the inputs are validated; src/rehearsal/snapshot-seal.ts seals with it. */
import { invalidInput } from '../core/errors.js';

export const SNAPSHOT_KEY_ACCEPTED = 'accepted: 32 random bytes as 64 hex digits or as base64 (44 characters), e.g. the output of `openssl rand -hex 32`, kept in a secret';

/** snapshot-key's text as its 32 bytes; the message never repeats the value. */
export function parseSnapshotKey(text: string): Buffer {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(text)) {
    const bytes = Buffer.from(text.replaceAll('-', '+').replaceAll('_', '/'), 'base64');
    if (bytes.length === 32) return bytes;
  }
  throw invalidInput(`snapshot-key is not a 256-bit key (${text.length} characters); ${SNAPSHOT_KEY_ACCEPTED}`);
}
