import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import type { Client, Subscription } from 'aedes';

/** A subscription as the broker received it, with the session it came on. */
export interface SeenSubscription {
  clientId: string;
  topic: string;
  clean: boolean;
}

/**
 * An MQTT broker the test owns (aedes, MQTT 3.1.1), so it can take it away and
 * bring it back on the same port: the external broker of `MQTT_URL` as the
 * bridge sees it, without touching the machine's Mosquitto.
 */
export class OwnedBroker {
  /** Every SUBSCRIBE the broker accepted since it was first started, across restarts. */
  readonly subscriptions: SeenSubscription[] = [];
  /** Client ids of the connections it accepted, across restarts. */
  readonly connects: string[] = [];
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private refuser: Server | undefined;
  /** Connections cut at once while `refuse()` holds the port. */
  refused = 0;
  port = 0;

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Listens on `port` (0 picks one the first time; a restart reuses the port it had). */
  async start(): Promise<void> {
    await this.stopRefusing();
    const broker = new Aedes();
    await broker.listen();
    broker.on('client', (client: Client) => this.connects.push(client.id));
    broker.on('subscribe', (subs: Subscription[], client: Client) => {
      for (const sub of subs) this.subscriptions.push({ clientId: client.id, topic: sub.topic, clean: client.clean });
    });
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      broker.handle(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.broker = broker;
    this.server = server;
  }

  /** Goes away as a crashed broker does: every connection cut, nothing remembered. */
  async stop(): Promise<void> {
    const server = this.server;
    const broker = this.broker;
    this.server = undefined;
    this.broker = undefined;
    if (server === undefined || broker === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  }

  /**
   * While the broker is stopped: holds its port and cuts every connection at
   * once, counting them, so a test can tell how often a client retried.
   */
  async refuse(): Promise<void> {
    const server = createServer((socket) => {
      this.refused++;
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.refuser = server;
  }

  private async stopRefusing(): Promise<void> {
    const server = this.refuser;
    this.refuser = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
