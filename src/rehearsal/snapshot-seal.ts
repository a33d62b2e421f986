/**
 * A sealed snapshot: the gzip stream of snapshot-file encrypted and authenticated with AES-256-GCM
 * under `snapshot-key`, because the Actions cache that carries it can be restored by every
 * workflow run of the repository, pull requests included.
 *
 * Layout (all lengths in bytes):
 *   magic "BAIMSEAL" (8) | version 1 (1) | key id (8) | nonce (12) | ciphertext | tag (16)
 * The 29-byte header is authenticated too (GCM's additional data), so any changed, missing or
 * added byte anywhere fails the tag. The key id is derived from the key (never the key itself), so
 * a wrong key is named as such instead of as damage. The nonce is random per file.
 *
 * GCM verifies its tag only at the end, so opening decrypts the whole file to a private file
 * first and hands out its path only once the tag held: nothing in a sealed file is used unverified.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalidInput, messageOf } from '../core/errors.js';

export const SEAL_MAGIC = Buffer.from('BAIMSEAL', 'latin1');
export const SEAL_VERSION = 1;
const KEY_ID_BYTES = 8;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SEAL_HEADER_BYTES = SEAL_MAGIC.length + 1 + KEY_ID_BYTES + NONCE_BYTES;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** Separate keys for encryption and for the key id, both from the one secret (HKDF-SHA256). */
function derive(key: Buffer, purpose: 'aes-256-gcm' | 'key-id', length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `bai-migrate snapshot seal v${SEAL_VERSION}: ${purpose}`, length));
}

export function keyId(key: Buffer): Buffer {
  return derive(key, 'key-id', KEY_ID_BYTES);
}

/** A stream that turns the gzip bytes into a sealed file's bytes: header, ciphertext, tag. */
export function sealStream(key: Buffer): Transform {
  const nonce = randomBytes(NONCE_BYTES);
  const header = Buffer.concat([SEAL_MAGIC, Buffer.from([SEAL_VERSION]), keyId(key), nonce]);
  const cipher = createCipheriv('aes-256-gcm', derive(key, 'aes-256-gcm', 32), nonce);
  cipher.setAAD(header);
  let started = false;
  const start = (stream: Transform) => {
    if (!started) stream.push(header);
    started = true;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      start(this);
      callback(null, cipher.update(chunk));
    },
    flush(callback) {
      start(this);
      this.push(cipher.final());
      callback(null, cipher.getAuthTag());
    },
  });
}

/** Whether the file is sealed, a plain gzip snapshot, or neither; read from its first bytes. */
async function readHead(path: string): Promise<{ head: Buffer; size: number; tag: Buffer }> {
  let handle;
  try {
    handle = await open(path, 'r');
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(SEAL_HEADER_BYTES, size));
    await handle.read(head, 0, head.length, 0);
    const tag = Buffer.alloc(TAG_BYTES);
    if (size >= SEAL_HEADER_BYTES + TAG_BYTES) await handle.read(tag, 0, TAG_BYTES, size - TAG_BYTES);
    return { head, size, tag };
  } catch (error) {
    // A missing file, a folder, no permission: the operator's to fix.
    throw invalidInput(`snapshot-file "${path}" cannot be read: ${messageOf(error)}; accepted: a file written by bai-migrate snapshot`);
  } finally {
    await handle?.close();
  }
}

/**
 * The path of a snapshot whose bytes may be read: a sealed file is decrypted into `plainPath`
 * (mode 0600) and returned only after its tag held; an unsealed one is returned as it is when no
 * key is given. A key given for an unsealed file is refused: whoever gave a key expects the file
 * that key sealed, and an unsealed file in its place may have been put there by anyone.
 */
export async function openSnapshot(path: string, key: Buffer | undefined, plainPath: string): Promise<string> {
  const { head, size, tag } = await readHead(path);
  const sealed = head.length >= SEAL_MAGIC.length && head.subarray(0, SEAL_MAGIC.length).equals(SEAL_MAGIC);
  if (!sealed) {
    if (key) {
      const what = head.subarray(0, 2).equals(GZIP_MAGIC) ? 'is not sealed (a plain snapshot taken without snapshot-key)' : 'is not a sealed bai-migrate snapshot';
      throw invalidInput(
        `snapshot-file "${path}" ${what}, but snapshot-key is given: refused, since a file sealed with that key was expected; take the snapshot again with snapshot-key, or leave snapshot-key empty to rehearse an unsealed file of your own`,
      );
    }
    return path;
  }
  if (!key) throw invalidInput(`snapshot-file "${path}" is sealed (encrypted); give snapshot-key, the key it was sealed with`);
  if (size < SEAL_HEADER_BYTES + TAG_BYTES) throw damaged(path, `${size} bytes, shorter than a sealed file's header and tag`);
  const version = head[SEAL_MAGIC.length];
  if (version !== SEAL_VERSION) throw invalidInput(`snapshot-file "${path}" is sealed in format version ${version}; this bai-migrate reads version ${SEAL_VERSION}`);
  const idAt = SEAL_MAGIC.length + 1;
  if (!timingSafeEqual(head.subarray(idAt, idAt + KEY_ID_BYTES), keyId(key))) {
    throw invalidInput(`snapshot-key does not match the key this snapshot was sealed with (snapshot-file "${path}"); give the snapshot-key of the workflow that took it`);
  }
  const decipher = createDecipheriv('aes-256-gcm', derive(key, 'aes-256-gcm', 32), head.subarray(idAt + KEY_ID_BYTES));
  decipher.setAAD(head);
  decipher.setAuthTag(tag);
  const ciphertext = size - SEAL_HEADER_BYTES - TAG_BYTES;
  // createReadStream's end is inclusive; an empty range would read the whole file.
  const source = ciphertext > 0 ? createReadStream(path, { start: SEAL_HEADER_BYTES, end: SEAL_HEADER_BYTES + ciphertext - 1 }) : [];
  try {
    await pipeline(source, decipher, createWriteStream(plainPath, { mode: 0o600, flags: 'wx' }));
  } catch (error) {
    await rm(plainPath, { force: true });
    if (/unable to authenticate|auth/i.test(messageOf(error))) throw damaged(path, 'its AES-256-GCM tag does not match its contents');
    throw invalidInput(`snapshot-file "${path}" cannot be read: ${messageOf(error)}`);
  }
  return plainPath;
}

function damaged(path: string, why: string) {
  return invalidInput(`snapshot-file "${path}" fails its integrity check (${why}): it was changed, cut short or extended after it was sealed, and nothing in it was used; take the snapshot again`);
}
