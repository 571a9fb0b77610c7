import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { BrokerTlsConfig, ClientCertMode, ExternalTlsConfig } from './app-config';
import { CLIENT_CERT_MODES } from './app-config';
import type { Reader } from './load-config';

const BROKER_VARIABLES = ['MQTT_TLS_PORT', 'MQTT_TLS_CERT', 'MQTT_TLS_KEY', 'MQTT_TLS_CA', 'MQTT_TLS_CLIENT_CERTS'];
const EXTERNAL_VARIABLES = ['MQTT_CA_FILE', 'MQTT_CERT_FILE', 'MQTT_KEY_FILE', 'MQTT_REJECT_UNAUTHORIZED'];

/**
 * The embedded broker's TLS listener (issue #13): off unless `MQTT_TLS_PORT`
 * is set; the certificate and key are read here once so a wrong path, an
 * unreadable file or a key of another certificate stops the start with its name.
 */
export function readBrokerTls(r: Reader, externalUrl: string | undefined): BrokerTlsConfig | undefined {
  const given = BROKER_VARIABLES.filter((name) => r.raw(name) !== undefined);
  if (given.length === 0) return undefined;
  if (externalUrl !== undefined) {
    r.problems.push(
      `${given.join(', ')}: configure the embedded broker's TLS listener, which does not run with MQTT_URL set; ` +
        'for TLS to the external broker use MQTT_CA_FILE, MQTT_CERT_FILE, MQTT_KEY_FILE',
    );
    return undefined;
  }
  const certFile = r.raw('MQTT_TLS_CERT');
  const keyFile = r.raw('MQTT_TLS_KEY');
  const caFile = r.raw('MQTT_TLS_CA');
  const clientCerts = r.oneOf<ClientCertMode>(
    'MQTT_TLS_CLIENT_CERTS',
    CLIENT_CERT_MODES,
    caFile === undefined ? 'off' : 'optional',
  );
  if (r.raw('MQTT_TLS_PORT') === undefined) {
    r.problems.push(
      `${given.join(', ')}: need MQTT_TLS_PORT, the port of the TLS listener (8883 by convention, 0 picks a free one)`,
    );
    return undefined;
  }
  const port = r.int('MQTT_TLS_PORT', 8883, 0, 65535);
  if (certFile === undefined || keyFile === undefined) {
    r.problems.push(
      certFile === undefined && keyFile === undefined
        ? `MQTT_TLS_PORT=${port}: needs MQTT_TLS_CERT and MQTT_TLS_KEY, the PEM files of the server certificate and its key`
        : certFile === undefined
          ? `MQTT_TLS_KEY=${keyFile}: needs MQTT_TLS_CERT, the PEM certificate of that key`
          : `MQTT_TLS_CERT=${certFile}: needs MQTT_TLS_KEY, the PEM private key of that certificate`,
    );
    return undefined;
  }
  if (clientCerts !== 'off' && caFile === undefined) {
    r.problems.push(
      `MQTT_TLS_CLIENT_CERTS=${clientCerts}: needs MQTT_TLS_CA, the PEM CA that signs device certificates`,
    );
  }
  checkFiles(r, { cert: 'MQTT_TLS_CERT', key: 'MQTT_TLS_KEY', ca: 'MQTT_TLS_CA' });
  return { port, certFile, keyFile, caFile, clientCerts };
}

/** TLS options towards an external broker: only for an `mqtts://`, `ssl://` or `wss://` MQTT_URL. */
export function readExternalTls(r: Reader, url: string | undefined): ExternalTlsConfig | undefined {
  const given = EXTERNAL_VARIABLES.filter((name) => r.raw(name) !== undefined);
  if (given.length === 0) return undefined;
  const rejectUnauthorized = r.oneOf('MQTT_REJECT_UNAUTHORIZED', ['true', 'false'], 'true') === 'true';
  if (url === undefined || !/^(mqtts|ssl|wss):/.test(url)) {
    r.problems.push(
      `${given.join(', ')}: apply to an external broker at an mqtts:// or wss:// MQTT_URL` +
        (url === undefined ? ' (the embedded broker uses MQTT_TLS_PORT, MQTT_TLS_CERT, MQTT_TLS_KEY)' : `, not ${url}`),
    );
    return undefined;
  }
  const config: ExternalTlsConfig = {
    caFile: r.raw('MQTT_CA_FILE'),
    certFile: r.raw('MQTT_CERT_FILE'),
    keyFile: r.raw('MQTT_KEY_FILE'),
    rejectUnauthorized,
  };
  if (config.certFile !== undefined && config.keyFile === undefined) {
    r.problems.push(`MQTT_CERT_FILE=${config.certFile}: needs MQTT_KEY_FILE, the PEM private key of that certificate`);
  } else if (config.keyFile !== undefined && config.certFile === undefined) {
    r.problems.push(`MQTT_KEY_FILE=${config.keyFile}: needs MQTT_CERT_FILE, the PEM certificate of that key`);
  } else {
    checkFiles(r, { cert: 'MQTT_CERT_FILE', key: 'MQTT_KEY_FILE', ca: 'MQTT_CA_FILE' });
  }
  return config;
}

/** Each given file readable, then all of them together as OpenSSL takes them (PEM, key matching certificate). */
function checkFiles(r: Reader, names: { cert: string; key: string; ca: string }): void {
  const contents: Partial<Record<keyof typeof names, Buffer>> = {};
  for (const [role, name] of Object.entries(names) as [keyof typeof names, string][]) {
    const path = r.raw(name);
    if (path === undefined) continue;
    try {
      contents[role] = readFileSync(path);
    } catch (err) {
      r.problems.push(`${name}=${path}: cannot read it (${(err as Error).message})`);
      return;
    }
  }
  try {
    createSecureContext(contents);
  } catch (err) {
    const given = Object.values(names)
      .filter((name) => r.raw(name) !== undefined)
      .map((name) => `${name}=${r.raw(name)}`);
    r.problems.push(
      `${given.join(', ')}: not a usable PEM certificate, key and CA (${(err as Error).message}); ` +
        'the key must be the certificate’s, unencrypted',
    );
  }
}
