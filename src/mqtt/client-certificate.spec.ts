import type { ClientCertificate } from './client-certificate';
import { decideByCertificate } from './client-certificate';

const trusted = (commonName: string): ClientCertificate => ({ kind: 'trusted', commonName, serialNumber: '0A' });

/** Who a device certificate admits (issue #13): a device named by its CN, or a refusal saying why. */
describe('decideByCertificate', () => {
  it('admits a trusted certificate as the device its CN names, with or without that username', () => {
    const device = {
      kind: 'device',
      identity: { kind: 'device', username: 'weatherstation/ws-1', deviceType: 'weatherstation', deviceId: 'ws-1' },
      serialNumber: '0A',
    };
    expect(decideByCertificate(trusted('weatherstation/ws-1'), undefined, 'optional')).toEqual(device);
    expect(decideByCertificate(trusted('weatherstation/ws-1'), '', 'required')).toEqual(device);
    expect(decideByCertificate(trusted('weatherstation/ws-1'), 'weatherstation/ws-1', 'optional')).toEqual(device);
  });

  it('refuses a username that is not the CN, and a CN that is not {device_type}/{device_id}', () => {
    expect(decideByCertificate(trusted('weatherstation/ws-1'), 'weatherstation/ws-2', 'optional')).toEqual({
      kind: 'refused',
      reason: "the username weatherstation/ws-2 is not the client certificate's CN weatherstation/ws-1",
    });
    for (const cn of ['gateway-7', 'a/b/c', '/ws-1', 'weatherstation/', 'weather station/ws-1', 'things/+']) {
      expect(decideByCertificate(trusted(cn), undefined, 'optional')).toEqual({
        kind: 'refused',
        reason: `the client certificate's CN ${cn} is not {device_type}/{device_id}`,
      });
    }
  });

  it('refuses an untrusted certificate rather than trying the password', () => {
    expect(
      decideByCertificate({ kind: 'untrusted', reason: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'u', 'optional'),
    ).toEqual({ kind: 'refused', reason: 'the client certificate is not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE)' });
  });

  it('leaves a client without a certificate to its password unless certificates are required', () => {
    expect(decideByCertificate({ kind: 'none' }, 'weatherstation/ws-1', 'optional')).toEqual({ kind: 'password' });
    expect(decideByCertificate({ kind: 'none' }, 'weatherstation/ws-1', 'off')).toEqual({ kind: 'password' });
    expect(decideByCertificate({ kind: 'none' }, 'weatherstation/ws-1', 'required')).toEqual({
      kind: 'refused',
      reason: 'a client certificate is required (MQTT_TLS_CLIENT_CERTS=required)',
    });
  });
});
