import { Logger } from '@nestjs/common';
import { startApp } from './app';
import { TokenService } from './auth/token.service';
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

void main();
