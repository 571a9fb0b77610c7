import { createHmac } from 'node:crypto';
import { signatureHeader, verifySignature } from './signature';

describe('delivery signatures', () => {
  const secret = 'whsec_test_secret_123456';
  const body = '{"connector":"a","events":[]}';

  it('is an HMAC-SHA256 over `{t}.{body}`, hex, as Stripe signs', () => {
    const header = signatureHeader(secret, body, 1_700_000_000);
    const expected = createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex');
    expect(header).toBe(`t=1700000000,v1=${expected}`);
  });

  it('verifies within the tolerance, and refuses another secret, another body or an old timestamp', () => {
    const header = signatureHeader(secret, body, 1_700_000_000);
    expect(verifySignature(secret, body, header, 1_700_000_100)).toBe(true);
    expect(verifySignature('whsec_other_secret_12345', body, header, 1_700_000_100)).toBe(false);
    expect(verifySignature(secret, `${body} `, header, 1_700_000_100)).toBe(false);
    expect(verifySignature(secret, body, header, 1_700_000_301)).toBe(false);
    expect(verifySignature(secret, body, undefined, 1_700_000_000)).toBe(false);
    expect(verifySignature(secret, body, 't=1700000000,v1=00', 1_700_000_000)).toBe(false);
  });
});
