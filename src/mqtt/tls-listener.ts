import type { IncomingMessage } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { createServer as createTlsServer } from 'node:tls';
import { Logger } from '@nestjs/common';
import type { OriginPolicy } from '../auth/origin-policy';
import { refuseUpgrade } from '../auth/origin-policy';
import type { BrokerTlsConfig } from '../config/app-config';
import { clientCertificate } from './client-certificate';
import { CertificateFiles } from './certificate-files';
import { listenOrExplain } from './listen';

/** First byte of every MQTT stream: CONNECT (MQTT 3.1.1 and 5). An HTTP request starts with a letter. */
const MQTT_CONNECT = 0x10;
/** A TLS client that sends nothing after the handshake is let go after this long. */
const FIRST_BYTE_TIMEOUT_MS = 10_000;

export interface TlsListenerHandlers {
  /** A TLS connection speaking MQTT (`mqtts://`). */
  mqtt(socket: TLSSocket): void;
  /** A WebSocket upgrade to `/mqtt` on the same port (`wss://host:port/mqtt`). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/**
 * The embedded broker's TLS port (issue #13): `mqtts://` and MQTT over
 * secure WebSocket at `/mqtt` on one port, told apart by the first byte after
 * the handshake. The certificate comes from files and is swapped in for new
 * connections when they change (`setSecureContext`); open connections keep
 * theirs. With client certificates on, every client is asked for one and the
 * broker decides at CONNECT (client-certificate.ts), so a device is told why.
 */
export class TlsListener {
  private readonly logger = new Logger('MqttTls');
  private readonly files: CertificateFiles;
  private readonly tls;
  /** Parses the HTTP of `wss://` connections; never listens itself. */
  private readonly http = createHttpServer((_req, res) => {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('MQTT over WebSocket is at /mqtt\n');
  });
  /** The certificate new connections get, for the log. */
  private serving: string;

  constructor(
    private readonly config: BrokerTlsConfig,
    private readonly handlers: TlsListenerHandlers,
    private readonly origins: OriginPolicy,
  ) {
    this.files = new CertificateFiles(config);
    const loaded = this.files.load();
    this.serving = loaded.summary;
    this.tls = createTlsServer({
      ...loaded.options,
      // As on the plain TCP listener: small MQTT packets (PUBACKs at commit) are not held back by Nagle.
      noDelay: true,
      requestCert: config.clientCerts !== 'off',
      // Checked at CONNECT instead, so the device gets a CONNACK saying why (and `optional` works at all).
      rejectUnauthorized: false,
    });
    this.tls.on('secureConnection', (socket) => this.route(socket));
    this.tls.on('tlsClientError', (err) => this.logger.debug(`TLS handshake: ${err.message}`));
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (new URL(req.url ?? '/', 'https://x').pathname === '/mqtt') {
        // A browser's certificate is an ambient credential, like a cookie (issue #18, OriginPolicy).
        const refused =
          clientCertificate(req.socket as TLSSocket).kind === 'trusted'
            ? this.origins.certificateRefusal(req.headers)
            : undefined;
        if (refused !== undefined) return refuseUpgrade(socket, refused);
        return handlers.upgrade(req, socket, head);
      }
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    this.http.on('clientError', (_err, socket) => socket.destroy());
  }

  async listen(host: string): Promise<AddressInfo> {
    const { port } = this.config;
    const address = await listenOrExplain(
      this.tls,
      port,
      host,
      (code) =>
        `MQTT TLS port ${port} on ${host} is ${code === 'EADDRINUSE' ? 'already in use' : 'not permitted'}: ` +
        'set MQTT_TLS_PORT to a free port (0 picks one)',
    );
    this.logger.log(`Certificate ${this.serving}`);
    this.files.watch(
      (loaded) => {
        this.tls.setSecureContext({ ...loaded.options });
        this.serving = loaded.summary;
        this.logger.log(`Certificate reloaded for new connections: ${loaded.summary}`);
      },
      (err) =>
        this.logger.error(
          `Certificate files changed but cannot be used, keeping the previous certificate (${this.serving}): ${err.message}`,
        ),
    );
    return address;
  }

  close(): Promise<void> {
    this.files.close();
    return new Promise((resolve) => (this.tls.listening ? this.tls.close(() => resolve()) : resolve()));
  }

  private route(socket: TLSSocket): void {
    socket.on('error', (err: Error) => this.logger.debug(`TLS connection: ${err.message}`));
    socket.setTimeout(FIRST_BYTE_TIMEOUT_MS, () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(chunk);
      if (chunk[0] === MQTT_CONNECT) return this.handlers.mqtt(socket);
      this.http.emit('connection', socket);
      socket.resume();
    });
  }
}
