import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import type { ServiceProcess } from '../support/process';
import { runService } from '../support/process';
import { waitFor } from '../support/wait';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A Redis the suite owns (so it may restart it), on a free port. */
export class OwnedRedis {
  private child: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitFor(() => portOpen(this.port), `redis on ${this.port}`, 10_000);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

async function portOpen(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(undefined));
  });
}

/**
 * A TCP proxy in front of PostgreSQL that the suite can cut and restore, to
 * make the database briefly unreachable without touching the machine's server.
 */
export class CuttableProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {}

  async start(port = 0): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Drops every connection and refuses new ones. */
  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
  }

  async restore(): Promise<void> {
    await this.start(this.port);
  }
}

export interface Instance {
  name: string;
  service: ServiceProcess;
  url: string;
  /** Its environment beyond the setup's (DATA_DIR among it): start it again with this to restart it as itself. */
  env: Record<string, string>;
}

export interface ClusterSetup {
  prefix: string;
  env: Record<string, string>;
  adminToken: string;
  jwtSecret: string;
  databaseUrl: string;
  dropDatabase(): Promise<void>;
}

/** One PostgreSQL database, topic prefix and share group for this suite; secrets shared by every instance. */
export async function clusterSetup(
  baseDatabaseUrl: string,
  mqttUrl: string,
  redisUrl: string,
  pgProxyPort: number,
  extraEnv: Record<string, string> = {},
): Promise<ClusterSetup> {
  const suffix = randomBytes(4).toString('hex');
  const name = `dhb_cluster_${suffix}`;
  const admin = new Client({ connectionString: baseDatabaseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const viaProxy = new URL(baseDatabaseUrl);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(pgProxyPort);
  viaProxy.pathname = `/${name}`;
  const adminToken = `adm_${suffix}`;
  const jwtSecret = `jwt_${suffix}_${randomBytes(8).toString('hex')}`;
  const prefix = `c${suffix}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'dhb-cluster-'));
  const typesFile = join(dataDir, 'types.json');
  writeFileSync(
    typesFile,
    JSON.stringify({
      accept_undeclared: true,
      types: {
        beacon: { heartbeat_interval: 1, readings: { n: { type: 'number' } }, commands: { ping: { payload: {} } } },
      },
    }),
  );
  return {
    prefix,
    adminToken,
    jwtSecret,
    databaseUrl: viaProxy.toString(),
    env: {
      HOST: '127.0.0.1',
      PORT: '0',
      MQTT_URL: mqttUrl,
      MQTT_SHARE_GROUP: `g${suffix}`,
      TOPIC_PREFIX: prefix,
      DATABASE_URL: viaProxy.toString(),
      REDIS_URL: redisUrl,
      ADMIN_TOKEN: adminToken,
      JWT_SECRET: jwtSecret,
      DEVICE_TYPES: typesFile,
      LOG_LEVEL: 'warn',
      ...extraEnv,
    },
    dropDatabase: async () => {
      const c = new Client({ connectionString: baseDatabaseUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export async function startInstance(
  name: string,
  setup: ClusterSetup,
  extraEnv: Record<string, string> = {},
): Promise<Instance> {
  const env = { DATA_DIR: mkdtempSync(join(tmpdir(), `dhb-${name}-`)), ...extraEnv };
  const service = runService({ ...setup.env, ...env });
  const [, url] = await service.waitForOutput(/HTTP\s+(http:\/\/\S+)/, 60_000);
  return { name, service, url, env };
}

/** The first instance runs the migrations; the others start together on a ready schema. */
export async function startInstances(names: string[], setup: ClusterSetup): Promise<Instance[]> {
  const [first, ...rest] = names;
  const instances = [await startInstance(first, setup)];
  instances.push(...(await Promise.all(rest.map((name) => startInstance(name, setup)))));
  return instances;
}

export async function stopInstances(instances: readonly Instance[]): Promise<void> {
  for (const i of instances) i.service.child.kill('SIGKILL');
  await Promise.all(instances.map((i) => i.service.exited().catch(() => null)));
}
