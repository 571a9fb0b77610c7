import { isNonPublicAddress, publicOnlyLookup, targetUrlProblem } from './url-safety';

describe('connector target URLs', () => {
  it.each([
    '127.0.0.1',
    '10.0.0.5',
    '172.16.3.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fd00::1',
    'fe80::1',
    '::ffff:127.0.0.1',
    '::ffff:10.0.0.1',
  ])('counts %s as non-public', (address) => expect(isNonPublicAddress(address)).toBe(true));

  it.each(['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '172.32.0.1'])(
    'counts %s as public',
    (address) => expect(isNonPublicAddress(address)).toBe(false),
  );

  it('takes public http and https URLs, refuses other schemes, credentials and inside addresses', () => {
    expect(targetUrlProblem('https://hooks.example.com/in?x=1', false)).toBeUndefined();
    expect(targetUrlProblem('http://93.184.216.34:8080/', false)).toBeUndefined();
    expect(targetUrlProblem('ftp://example.com/', false)).toMatch(/http/);
    expect(targetUrlProblem('not a url', false)).toMatch(/URL/);
    expect(targetUrlProblem(42, false)).toMatch(/URL/);
    expect(targetUrlProblem('https://u:p@example.com/', false)).toMatch(/credentials/);
    for (const url of ['http://localhost:3000/', 'http://api.localhost/', 'http://[::1]/', 'http://10.0.0.1/'])
      expect(targetUrlProblem(url, false)).toMatch(/CONNECTORS_ALLOW_PRIVATE/);
    expect(targetUrlProblem('http://127.0.0.1:3000/', true)).toBeUndefined();
  });

  it('refuses a host name that resolves inside when the connection is made (DNS rebinding)', async () => {
    const err = await new Promise<Error | null>((resolve) => publicOnlyLookup('localhost', {}, (e) => resolve(e)));
    expect(err?.message).toMatch(/localhost resolves to .*loopback or private/);
  });
});
