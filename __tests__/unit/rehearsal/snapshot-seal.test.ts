/**
 * The sealed snapshot format: what the file holds, and that every kind of damage, a wrong key, a
 * missing key or an unsealed file where a sealed one was expected is refused before any record
 * of it is read.
 */
import { createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readSnapshot, SnapshotWriter, SNAPSHOT_FORMAT, SNAPSHOT_FORMAT_VERSION, type SnapshotManifest } from '../../../src/rehearsal/snapshot-file.js';
import { openSnapshot, SEAL_HEADER_BYTES } from '../../../src/rehearsal/snapshot-seal.js';
import { parseSnapshotKey } from '../../../src/options/snapshot-key.js';
import { parseOptions, secretInputs } from '../../../src/options/index.js';

function messageOf(body: () => unknown): string {
  try {
    body();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('did not throw');
}

const KEY = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
const PLANTED = 'planted-Secr3t-in-a-row';

const manifest = { format: SNAPSHOT_FORMAT, formatVersion: SNAPSHOT_FORMAT_VERSION, takenAt: '2026-01-01T00:00:00.000Z' } as unknown as SnapshotManifest;

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'bai-migrate-seal-'));
}

/** A small snapshot with rows in it, sealed with `key` (or not). */
async function write(key: Buffer | undefined, rows = 50): Promise<string> {
  const path = join(dir(), 'snapshot.jsonl.gz');
  const writer = new SnapshotWriter(path, key);
  await writer.write(manifest);
  await writer.write({ t: 'rows', table: 'keypairs', columns: ['access_key', 'note'], rows: Array.from({ length: rows }, (_, i) => [`AK${i}`, PLANTED]) });
  await writer.write({ t: 'manager-toml', text: '[db]\nname = "backend"\n' });
  await writer.close();
  return path;
}

async function records(path: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const record of readSnapshot(path)) out.push(record);
  return out;
}

async function refusal(path: string, key: Buffer | undefined): Promise<{ message: string; plain: string }> {
  const plain = join(dir(), 'plain.jsonl.gz');
  const error = await openSnapshot(path, key, plain).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(error, 'the file was accepted').toBeInstanceOf(Error);
  expect((error as { code?: string }).code).toBe('invalid-input');
  // Nothing decrypted is left behind for anyone to read.
  expect(existsSync(plain)).toBe(false);
  return { message: error!.message, plain };
}

function damaged(path: string, change: (bytes: Buffer) => Buffer): string {
  const out = join(dir(), 'damaged.jsonl.gz');
  writeFileSync(out, change(Buffer.from(readFileSync(path))));
  return out;
}

const INTEGRITY =
  /^snapshot-file ".*damaged\.jsonl\.gz" fails its integrity check \(.*\): it was changed, cut short or extended after it was sealed, and nothing in it was used; take the snapshot again$/;

describe('sealed snapshot file', () => {
  it('holds a header, ciphertext and tag: no gzip, no JSON, no planted value; the key opens it to the same records', async () => {
    const sealed = await write(KEY);
    const plain = await write(undefined);
    const bytes = readFileSync(sealed);
    expect(bytes.subarray(0, 9)).toEqual(Buffer.from('BAIMSEAL\x01', 'latin1'));
    expect(statSync(sealed).mode & 0o777).toBe(0o600);
    // Header (29) + as many ciphertext bytes as the same snapshot's gzip bytes (GCM adds no padding) + tag (16).
    expect(bytes.length).toBe(SEAL_HEADER_BYTES + readFileSync(plain).length + 16);
    expect(() => gunzipSync(bytes)).toThrow();
    for (const text of [bytes.toString('latin1'), bytes.toString('utf8')]) {
      for (const word of [PLANTED, 'keypairs', SNAPSHOT_FORMAT, '[db]']) expect(text).not.toContain(word);
    }

    // Decrypted independently of openSnapshot, from the layout alone: the same gzip JSON lines.
    const key = Buffer.from(hkdfSync('sha256', KEY, Buffer.alloc(0), 'bai-migrate snapshot seal v1: aes-256-gcm', 32));
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(17, 29));
    decipher.setAAD(bytes.subarray(0, 29));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    const gz = Buffer.concat([decipher.update(bytes.subarray(29, bytes.length - 16)), decipher.final()]);
    expect(gunzipSync(gz).toString('utf8')).toContain(PLANTED);

    const opened = join(dir(), 'plain.jsonl.gz');
    expect(await openSnapshot(sealed, KEY, opened)).toBe(opened);
    expect(statSync(opened).mode & 0o777).toBe(0o600);
    expect(await records(opened)).toEqual(await records(plain));
    expect((await records(opened)).at(-1)).toEqual({ t: 'end', records: 2 });
  });

  it('uses a new nonce for every file', async () => {
    const [a, b] = [readFileSync(await write(KEY)), readFileSync(await write(KEY))];
    expect(a.subarray(17, 29).equals(b.subarray(17, 29))).toBe(false);
    expect(a.subarray(9, 17)).toEqual(b.subarray(9, 17));
  });

  it('refuses any flipped byte: header, ciphertext or tag', async () => {
    const sealed = await write(KEY, 2000);
    const size = readFileSync(sealed).length;
    // nonce, first / middle / last ciphertext byte, tag
    for (const at of [20, SEAL_HEADER_BYTES, Math.floor(size / 2), size - 17, size - 1]) {
      const { message } = await refusal(
        damaged(sealed, (b) => ((b[at]! ^= 0x01), b)),
        KEY,
      );
      expect(message, `byte ${at}`).toMatch(INTEGRITY);
    }
    expect(
      (
        await refusal(
          damaged(sealed, (b) => ((b[8] = 2), b)),
          KEY,
        )
      ).message,
    ).toMatch(/is sealed in format version 2; this bai-migrate reads version 1$/);
    // A changed key id reads as a key that does not match: the key id is all there is to compare.
    expect(
      (
        await refusal(
          damaged(sealed, (b) => ((b[10]! ^= 0x80), b)),
          KEY,
        )
      ).message,
    ).toMatch(/^snapshot-key does not match the key this snapshot was sealed with/);
    expect(
      (
        await refusal(
          damaged(sealed, (b) => ((b[0] = 0x00), b)),
          KEY,
        )
      ).message,
    ).toMatch(/is not a sealed bai-migrate snapshot, but snapshot-key is given/);
  });

  it('refuses a file cut short or extended', async () => {
    const sealed = await write(KEY, 2000);
    const size = readFileSync(sealed).length;
    for (const length of [size - 1, size - 16, Math.floor(size / 2), SEAL_HEADER_BYTES + 17]) {
      expect(
        (
          await refusal(
            damaged(sealed, (b) => b.subarray(0, length)),
            KEY,
          )
        ).message,
        `${length} of ${size} bytes`,
      ).toMatch(INTEGRITY);
    }
    expect(
      (
        await refusal(
          damaged(sealed, (b) => b.subarray(0, 40)),
          KEY,
        )
      ).message,
    ).toMatch(/fails its integrity check \(40 bytes, shorter than a sealed file's header and tag\)/);
    expect(
      (
        await refusal(
          damaged(sealed, (b) => Buffer.concat([b, Buffer.from([0])])),
          KEY,
        )
      ).message,
    ).toMatch(INTEGRITY);
    expect(
      (
        await refusal(
          damaged(sealed, (b) => Buffer.concat([b, readFileSync(sealed)])),
          KEY,
        )
      ).message,
    ).toMatch(INTEGRITY);
  });

  it('names a wrong key, a missing key, and a key given for an unsealed file', async () => {
    const sealed = await write(KEY);
    expect((await refusal(sealed, randomBytes(32))).message).toBe(
      `snapshot-key does not match the key this snapshot was sealed with (snapshot-file "${sealed}"); give the snapshot-key of the workflow that took it`,
    );
    expect((await refusal(sealed, undefined)).message).toBe(`snapshot-file "${sealed}" is sealed (encrypted); give snapshot-key, the key it was sealed with`);
    const plain = await write(undefined);
    expect((await refusal(plain, KEY)).message).toMatch(/is not sealed \(a plain snapshot taken without snapshot-key\), but snapshot-key is given: refused/);
    // Without a key, an unsealed file of the operator's own is read where it is.
    expect(await openSnapshot(plain, undefined, join(dir(), 'unused'))).toBe(plain);
    expect((await refusal(join(dir(), 'missing'), KEY)).message).toMatch(/^snapshot-file ".*missing" cannot be read: ENOENT/);
    expect((await refusal(dir(), KEY)).message).toMatch(/^snapshot-file ".*" cannot be read: EISDIR/);
  });
});

describe('snapshot-key', () => {
  it('accepts 32 bytes as hex or base64, and says how to make one otherwise, without repeating the value', () => {
    const bytes = randomBytes(32);
    expect(parseSnapshotKey(bytes.toString('hex'))).toEqual(bytes);
    expect(parseSnapshotKey(bytes.toString('hex').toUpperCase())).toEqual(bytes);
    expect(parseSnapshotKey(bytes.toString('base64'))).toEqual(bytes);
    expect(parseSnapshotKey(bytes.toString('base64url'))).toEqual(bytes);
    for (const bad of ['hunter2-not-a-key', bytes.toString('hex').slice(2), randomBytes(16).toString('base64'), `${bytes.toString('hex')}00`]) {
      expect(() => parseSnapshotKey(bad)).toThrow(
        /^snapshot-key is not a 256-bit key \(\d+ characters\); accepted: 32 random bytes as 64 hex digits or as base64 \(44 characters\), e.g. the output of `openssl rand -hex 32`, kept in a secret$/,
      );
      expect(messageOf(() => parseSnapshotKey(bad))).not.toContain(bad);
    }
  });

  it('is a secret input, required with snapshot-cache-key', () => {
    const hex = randomBytes(32).toString('hex');
    expect(secretInputs({ 'snapshot-key': hex })).toEqual([hex]);
    expect(parseOptions({ command: 'snapshot', 'snapshot-key': hex }).snapshotKey).toEqual(Buffer.from(hex, 'hex'));
    for (const command of ['snapshot', 'rehearse']) {
      expect(() => parseOptions({ command, 'to-version': '22.03', 'snapshot-cache-key': 'backendai-snapshot' })).toThrow(
        /^snapshot-cache-key is set without snapshot-key: a snapshot in the Actions cache must be sealed, since pull requests can restore it; accepted: snapshot-key from a secret/,
      );
    }
    expect(() => parseOptions({ command: 'snapshot', 'snapshot-key': 'short' })).toThrow(/^snapshot-key is not a 256-bit key \(5 characters\)/);
  });
});
