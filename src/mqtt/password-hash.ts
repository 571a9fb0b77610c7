import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/** scrypt cost: N=2^14, r=8, p=1 (about 16 MiB and tens of ms per check, on the libuv pool, not the event loop). */
const N = 16384;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

function derive(password: string | Buffer, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, KEY_BYTES, { N, r: 8, p: 1 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** A fresh device or gateway password: 192 random bits, URL-safe so it pastes into any shell. */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

/** `scrypt$salt$hash`, base64url parts (the `mqtt_credentials.password_hash` column). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  return `scrypt$${salt.toString('base64url')}$${(await derive(password, salt)).toString('base64url')}`;
}

/** Constant-time comparison against a stored hash; false for a hash it cannot read. */
export async function verifyPassword(password: string | Buffer, stored: string): Promise<boolean> {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const actual = await derive(password, Buffer.from(salt, 'base64url'));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
