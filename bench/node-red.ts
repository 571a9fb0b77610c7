/**
 * Node-RED 4 as a peer for bench/delivery-peers.ts (issue #17): a stateless
 * flow `mqtt in` (an external broker, one topic) -> `websocket out` (a
 * listen path), nothing stored. Installed on first use with
 * `npm install --prefix` into a cache folder outside the repository
 * (BENCH_CACHE_DIR, default ~/.cache/devicehub-bench), never into the
 * project's node_modules. Each start is a fresh process on a loopback port,
 * with a generated settings file, flow and user directory of its own; the
 * editor, admin API, telemetry and palette manager are off, so nothing but
 * the flow runs and nothing leaves the machine.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

const VERSION = '4';
const START_DEADLINE_MS = 30_000;
const running = new Set<ChildProcess>();
// Whatever ends the bench, no Node-RED is left behind.
process.on('exit', () => running.forEach((child) => child.kill('SIGKILL')));

/** Where Node-RED lives: `<cache>/node-red/node_modules/node-red`. */
function installDir(): string {
  return join(process.env.BENCH_CACHE_DIR ?? join(homedir(), '.cache', 'devicehub-bench'), 'node-red');
}

/** red.js of an installed Node-RED 4, installing it first if needed; undefined (and why) when that fails. */
export function installNodeRed(): { redJs?: string; version?: string; problem?: string } {
  const dir = installDir();
  const pkg = join(dir, 'node_modules', 'node-red', 'package.json');
  const installed = (): string | undefined =>
    existsSync(pkg) ? (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version : undefined;
  if (installed()?.split('.')[0] !== VERSION) {
    mkdirSync(dir, { recursive: true });
    console.log(`Installing node-red@${VERSION} into ${dir} (first use)…`);
    const npm = spawnSync(
      'npm',
      ['install', '--prefix', dir, `node-red@${VERSION}`, '--no-audit', '--no-fund', '--loglevel=error'],
      { stdio: 'inherit', timeout: 300_000 },
    );
    if (npm.status !== 0) return { problem: `npm install --prefix ${dir} node-red@${VERSION} failed` };
  }
  return { redJs: join(dir, 'node_modules', 'node-red', 'red.js'), version: installed() };
}

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export class NodeRed {
  private constructor(
    private readonly child: ChildProcess,
    private readonly userDir: string,
    /** Where the flow's `websocket out` listens. */
    readonly wsUrl: string,
  ) {}

  /** Its process id, for its CPU time. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Starts Node-RED with the flow `mqtt in` (`brokerUrl`, `topic`) -> `websocket out`; resolves once the path accepts. */
  static async start(redJs: string, brokerUrl: string, topic: string): Promise<NodeRed> {
    const broker = new URL(brokerUrl);
    const port = await freeLoopbackPort();
    const userDir = mkdtempSync(join(tmpdir(), 'dhb-bench-node-red-'));
    const path = '/ws/bench';
    const settings = {
      uiHost: '127.0.0.1',
      uiPort: port,
      userDir,
      flowFile: 'flows.json',
      credentialSecret: false,
      httpAdminRoot: false,
      telemetry: { enabled: false, updateNotification: false },
      diagnostics: { enabled: false, ui: false },
      runtimeState: { enabled: false, ui: false },
      externalModules: { autoInstall: false, palette: { allowInstall: false } },
      logging: { console: { level: 'warn', metrics: false, audit: false } },
    };
    writeFileSync(join(userDir, 'settings.js'), `module.exports = ${JSON.stringify(settings, null, 2)};\n`);
    // What the editor writes for these nodes, with their defaults; `auto-detect` parses the JSON
    // payload and `websocket out` encodes it again, the same work the bridge does per message.
    const flow = [
      { id: 'tab', type: 'tab', label: 'bench' },
      {
        id: 'broker',
        type: 'mqtt-broker',
        broker: broker.hostname,
        port: broker.port || '1883',
        clientid: `bench-node-red-${process.pid}-${port}`,
        autoConnect: true,
        usetls: false,
        protocolVersion: '4',
        keepalive: '60',
        cleansession: true,
        autoUnsubscribe: true,
      },
      { id: 'listener', type: 'websocket-listener', path, wholemsg: 'false' },
      {
        id: 'in',
        type: 'mqtt in',
        z: 'tab',
        topic,
        qos: '1',
        datatype: 'auto-detect',
        broker: 'broker',
        nl: false,
        rap: true,
        rh: 0,
        inputs: 0,
        wires: [['out']],
      },
      { id: 'out', type: 'websocket out', z: 'tab', server: 'listener', client: '', wires: [] },
    ];
    writeFileSync(join(userDir, 'flows.json'), JSON.stringify(flow, null, 2));
    const child = spawn(process.execPath, [redJs, '--settings', join(userDir, 'settings.js'), '--userDir', userDir], {
      cwd: userDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const nodeRed = new NodeRed(child, userDir, `ws://127.0.0.1:${port}${path}`);
    try {
      await nodeRed.listening();
    } catch (err) {
      await nodeRed.stop();
      throw new Error(`${(err as Error).message}; Node-RED said:\n${output}`);
    }
    return nodeRed;
  }

  /** Resolves once a WebSocket client is accepted on the flow's path (the flow is deployed). */
  private async listening(): Promise<void> {
    const deadline = Date.now() + START_DEADLINE_MS;
    for (;;) {
      if (this.child.exitCode !== null) throw new Error(`Node-RED exited (${this.child.exitCode}) before it listened`);
      const accepted = await new Promise<boolean>((resolve) => {
        const ws = new WebSocket(this.wsUrl);
        ws.once('open', () => {
          ws.close();
          resolve(true);
        });
        ws.once('error', () => resolve(false));
      });
      if (accepted) return;
      if (Date.now() > deadline)
        throw new Error(`Node-RED did not accept ${this.wsUrl} within ${START_DEADLINE_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.kill('SIGINT');
      const force = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(force);
    }
    running.delete(this.child);
    rmSync(this.userDir, { recursive: true, force: true });
  }
}
