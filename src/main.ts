import { Logger } from '@nestjs/common';
import { startApp } from './app';
import { TokenService } from './auth/token.service';
import type { NewEvent } from './bus/device-event';
import { EventBusService } from './bus/event-bus.service';
import { DomainError } from './common/domain-error';
import { ConfigError, loadProcessConfig } from './config/load-config';
import { MqttTransport } from './mqtt/mqtt-transport';
import { startupBanner } from './startup-banner';

async function main(): Promise<void> {
  let config;
  try {
    config = loadProcessConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  let running;
  try {
    running = await startApp(config);
  } catch (err) {
    // Start-up problems an operator can fix (a taken port, say) print as one plain message.
    process.stderr.write(
      `${err instanceof DomainError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  }
  const app = running.app;
  // The operator's token, printed with the dashboard URL: it may also send commands (issue #6, the five-minute tour).
  const clientToken = app.get(TokenService).mint({
    peerId: 'console',
    channels: ['**'],
    permissions: ['subscribe', 'presence', 'publish'],
    expiresInSec: 86_400,
  }).token;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    Logger.log(`${signal}: flushing the event log and stopping`, 'Main');
    // Bounded (issue #18, item 3): a log that cannot be written must not hold the process until the runtime kills it.
    setTimeout(() => {
      Logger.error(unfinishedShutdown(config.shutdownTimeoutMs, app.get(EventBusService).backlog()), 'Main');
      void running.abandon().finally(() => process.exit(1));
    }, config.shutdownTimeoutMs);
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        Logger.error(`Shutdown failed: ${String(err)}`, 'Main');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Only now: whoever waits for the banner may signal at once, and before the handlers a signal kills outright.
  process.stdout.write(startupBanner(running, app.get(MqttTransport).describe(), clientToken));
}

/** What a shutdown past SHUTDOWN_TIMEOUT leaves behind, for the operator. */
function unfinishedShutdown(timeoutMs: number, backlog: { events: number; oldest?: NewEvent }): string {
  const within = `Shutdown did not finish within SHUTDOWN_TIMEOUT (${timeoutMs} ms)`;
  const { events, oldest } = backlog;
  if (oldest === undefined) return `${within}; the event log was flushed; exiting with 1`;
  const first = `${oldest.event} of ${oldest.device_type}/${oldest.device_id} received ${oldest.received_at}`;
  return `${within}: ${events} events were not written to the event log (the oldest: ${first}); exiting with 1`;
}

void main();
