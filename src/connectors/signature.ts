import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header carrying the signature: `t={unix seconds},v1={hex HMAC-SHA256}`. */
export const SIGNATURE_HEADER = 'devicehub-signature';

/**
 * Signs a delivery the way Stripe signs webhooks (`Stripe-Signature`): an
 * HMAC-SHA256, keyed with the connector's secret, over `{t}.{body}`, where
 * `t` is the send time in Unix seconds and sits in the header beside the
 * digest. Signing the time with the body lets a receiver refuse a captured
 * request replayed later (a tolerance of a few minutes, as Stripe's 300 s);
 * GitHub's `X-Hub-Signature-256` signs the body alone and cannot. `v1`
 * names the scheme so a later one can be sent beside it.
 */
export function signatureHeader(secret: string, body: string, timeSec: number): string {
  return `t=${timeSec},v1=${digest(secret, timeSec, body)}`;
}

function digest(secret: string, timeSec: number, body: string): string {
  return createHmac('sha256', secret).update(`${timeSec}.${body}`).digest('hex');
}

/**
 * What a receiver does (README, "Data connectors"): true when one `v1`
 * digest matches and `t` is within `toleranceSec` of `nowSec`. Used by the
 * tests and the benchmark's receivers; compares in constant time.
 */
export function verifySignature(
  secret: string,
  body: string,
  header: string | undefined,
  nowSec: number,
  toleranceSec = 300,
): boolean {
  if (header === undefined) return false;
  const parts = header.split(',').map((p) => p.trim().split('='));
  const t = Number(parts.find(([k]) => k === 't')?.[1]);
  if (!Number.isInteger(t) || Math.abs(nowSec - t) > toleranceSec) return false;
  const expected = Buffer.from(digest(secret, t, body));
  return parts.some(([k, v]) => {
    if (k !== 'v1' || v === undefined) return false;
    const given = Buffer.from(v);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
