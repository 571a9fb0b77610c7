/**
 * A fleet of simulated devices for demos, the dashboard and load (issue #6):
 *
 *   npm run simulate -- --type weatherstation --devices 50 --rate 2 [--url mqtt://…] [--realistic]
 *
 * Each device has its own MQTT connection and, when the service's admin API
 * is reachable, its own credentials; see `--help`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import type { Declaration } from './simulator/readings';
import { ReadingsModel, builtInReadings, declarationFromFile } from './simulator/readings';
import { ServiceApi } from './simulator/service-api';
import type { FleetStats } from './simulator/simulated-device';
import { SimulatedDevice } from './simulator/simulated-device';

const HELP = `Usage: npm run simulate -- [options]

  --type NAME          device type (default weatherstation)
  --devices N          how many devices (default 10)
  --rate R             data messages per second, per device (default 1)
  --url URL            MQTT broker (default $MQTT_URL, else mqtt://127.0.0.1:1883)
  --api URL            the service, for credentials and declarations (default http://127.0.0.1:3000)
  --admin-token T      admin credential (default $ADMIN_TOKEN, else $DATA_DIR/secrets.json, DATA_DIR ./data)
  --anonymous          no credentials (the service runs with DEVICE_AUTH=off)
  --prefix P           topic prefix (default $TOPIC_PREFIX, else things)
  --types FILE         device-type declarations (default $DEVICE_TYPES, else asked of the service)
  --id-prefix P        device ids P-001, P-002, ... (default sim)
  --realistic          jittered timing, a daily cycle (one day lasts --day), faster battery drain
  --day SECONDS        length of a simulated day with --realistic (default 600)
  --dropouts N         drop-outs per device per hour (default 6; 0 for none)
  --downtime SECONDS   longest a drop-out lasts (default 30; each lasts a sixth of it to all of it)
  --duration SECONDS   stop by itself after this long
  -h, --help

Readings drift within the declared ranges (built-in ones for weatherstation,
thermostat and airquality when the type is not declared). Devices answer
reboot, set_interval {interval} and every declared command on cmd/response.
Ctrl-C says offline for every device and exits.`;

/** Credentials minted at once. */
const MINT_CONCURRENCY = 8;

/** The environment is read here, once; the simulator is a tool, not part of the service. */
const env = process.env;

interface Options {
  type: string;
  devices: number;
  rate: number;
  url: string;
  api: string;
  adminToken?: string;
  anonymous: boolean;
  prefix: string;
  typesFile?: string;
  idPrefix: string;
  realistic: boolean;
  daySec: number;
  dropouts: number;
  downtimeSec: number;
  durationSec?: number;
}

function options(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      type: { type: 'string', default: 'weatherstation' },
      devices: { type: 'string', default: '10' },
      rate: { type: 'string', default: '1' },
      url: { type: 'string', default: env.MQTT_URL ?? 'mqtt://127.0.0.1:1883' },
      api: { type: 'string', default: 'http://127.0.0.1:3000' },
      'admin-token': { type: 'string' },
      anonymous: { type: 'boolean', default: false },
      prefix: { type: 'string', default: env.TOPIC_PREFIX ?? 'things' },
      types: { type: 'string' },
      'id-prefix': { type: 'string', default: 'sim' },
      realistic: { type: 'boolean', default: false },
      day: { type: 'string', default: '600' },
      dropouts: { type: 'string', default: '6' },
      downtime: { type: 'string', default: '30' },
      duration: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    process.exit(0);
  }
  const problems: string[] = [];
  const number = (name: string, text: string | undefined, min: number, max: number, integer = false): number => {
    const n = Number(text);
    if (text === undefined || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      problems.push(`--${name}: expected ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${text}`);
    }
    return n;
  };
  const opts: Options = {
    type: values.type,
    devices: number('devices', values.devices, 1, 10_000, true),
    rate: number('rate', values.rate, 0.001, 1000),
    url: values.url,
    api: values.api.replace(/\/+$/, ''),
    adminToken: values['admin-token'] ?? env.ADMIN_TOKEN ?? storedAdminToken(),
    anonymous: values.anonymous,
    prefix: values.prefix,
    typesFile: values.types ?? env.DEVICE_TYPES,
    idPrefix: values['id-prefix'],
    realistic: values.realistic,
    daySec: number('day', values.day, 1, 86_400),
    dropouts: number('dropouts', values.dropouts, 0, 3600),
    downtimeSec: number('downtime', values.downtime, 0.1, 86_400),
    durationSec: values.duration === undefined ? undefined : number('duration', values.duration, 0.1, 31_536_000),
  };
  if (!/^[^/+#\s]{1,128}$/.test(opts.type)) problems.push(`--type: ${opts.type} is not a device type name`);
  if (problems.length > 0) {
    process.stderr.write(`${problems.join('\n')}\n\n${HELP}\n`);
    process.exit(2);
  }
  return opts;
}

/** The admin token `npm start` generated, when the simulator runs beside it. */
function storedAdminToken(): string | undefined {
  const file = join(env.DATA_DIR ?? './data', 'secrets.json');
  if (!existsSync(file)) return undefined;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { adminToken?: string }).adminToken;
  } catch {
    return undefined;
  }
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const ids = Array.from({ length: o.devices }, (_, i) => `${o.idPrefix}-${String(i + 1).padStart(3, '0')}`);

  let api: ServiceApi | undefined;
  if (o.anonymous) say('Connecting anonymously (--anonymous): the service must run with DEVICE_AUTH=off.');
  else if (!o.adminToken)
    say('No admin token (--admin-token, ADMIN_TOKEN or ./data/secrets.json): connecting anonymously.');
  else {
    const candidate = new ServiceApi(o.api, o.adminToken);
    const reach = await candidate.reachable();
    if (reach.ok) api = candidate;
    else say(`Connecting anonymously: ${reach.why}.`);
  }

  let declaration: Declaration | undefined;
  if (o.typesFile) declaration = declarationFromFile(parseYaml(readFileSync(o.typesFile, 'utf8')), o.type);
  else if (api) declaration = await api.declaration(o.type).catch(() => undefined);
  const readings = declaration?.readings ?? builtInReadings(o.type);
  say(
    `${o.type}: ${declaration ? 'declared' : 'built-in'} readings ${Object.keys(readings).join(', ')}; ` +
      `commands ${declaration ? ['reboot', 'set_interval', ...Object.keys(declaration.commands)].filter((c, i, a) => a.indexOf(c) === i).join(', ') : 'any'}.`,
  );

  const credentials = new Map<string, { username: string; password: string }>();
  if (api) {
    const service = api;
    try {
      // A few at a time: the service hashes each password, and a fleet of thousands should not wait in single file.
      for (let i = 0; i < ids.length; i += MINT_CONCURRENCY) {
        const batch = ids.slice(i, i + MINT_CONCURRENCY);
        const minted = await Promise.all(batch.map((id) => service.credentials(o.type, id)));
        batch.forEach((id, j) => credentials.set(id, minted[j]));
      }
      say(`Minted credentials for ${credentials.size} devices through ${o.api}.`);
    } catch (err) {
      credentials.clear();
      say(`Connecting anonymously: ${err instanceof Error ? err.message : String(err)}.`);
    }
  }

  const stats: FleetStats = { published: 0, commandsAnswered: 0, dropouts: 0, errors: new Set() };
  const heartbeatMs = (declaration?.heartbeatIntervalSec ?? 300) * 1000;
  const devices = ids.map(
    (id) =>
      new SimulatedDevice(
        {
          url: o.url,
          prefix: o.prefix,
          type: o.type,
          id,
          credentials: credentials.get(id),
          intervalMs: 1000 / o.rate,
          // Often enough that the offline sweep (2.5 heartbeats of silence) never fires for a live device.
          statusEveryMs: Math.min(30_000, heartbeatMs / 2),
          realistic: o.realistic,
          dayMs: o.daySec * 1000,
          dropoutsPerHour: o.dropouts,
          downtimeMs: o.downtimeSec * 1000,
          commands: declaration ? ['reboot', 'set_interval', ...Object.keys(declaration.commands)] : undefined,
          readings: new ReadingsModel(readings),
        },
        stats,
      ),
  );
  say(`Simulating ${o.devices} ${o.type} devices at ${o.rate} msg/s each on ${o.url} (Ctrl-C stops).`);
  devices.forEach((d, i) => setTimeout(() => d.start(), Math.min(i * 10, 2000)).unref());

  const started = Date.now();
  const tty = process.stdout.isTTY;
  let last = { at: started, published: 0 };
  const shownErrors = new Set<string>();
  const summary = (): string => {
    const now = Date.now();
    const rate = ((stats.published - last.published) * 1000) / Math.max(1, now - last.at);
    last = { at: now, published: stats.published };
    const connected = devices.filter((d) => d.connected).length;
    return `${o.type}: ${connected}/${o.devices} connected · ${rate.toFixed(1)} msg/s · ${stats.commandsAnswered} commands answered · ${stats.dropouts} drop-outs`;
  };
  const ticker = setInterval(() => {
    for (const e of stats.errors) {
      if (shownErrors.has(e)) continue;
      shownErrors.add(e);
      process.stdout.write(`${tty ? '\r\x1b[2K' : ''}MQTT: ${e}\n`);
    }
    process.stdout.write(tty ? `\r\x1b[2K${summary()}` : `${summary()}\n`);
  }, 1000);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      process.stdout.write(`\n${signal} again: exiting without waiting.\n`);
      process.exit(130);
    }
    stopping = true;
    clearInterval(ticker);
    process.stdout.write(`${tty ? '\n' : ''}${signal}: saying offline for ${o.devices} devices…\n`);
    void Promise.all(devices.map((d) => d.stop())).then(() => {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      say(
        `Stopped after ${secs} s: ${stats.published} messages, ${stats.commandsAnswered} commands answered, ${stats.dropouts} drop-outs.`,
      );
      process.exit(0);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  if (o.durationSec !== undefined) setTimeout(() => stop('Time is up'), o.durationSec * 1000);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
