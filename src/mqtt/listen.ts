import type { AddressInfo, Server } from 'node:net';
import { DomainError } from '../common/domain-error';

/**
 * Listens, turning a taken or forbidden port into one clear start-up error
 * (`mqtt_port_unavailable`) whose advice `advice` gives; other errors pass as they are.
 */
export function listenOrExplain(
  server: Server,
  port: number,
  host: string,
  advice: (code: 'EADDRINUSE' | 'EACCES') => string,
): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') {
        reject(new DomainError('mqtt_port_unavailable', advice(err.code), 500));
      } else {
        reject(err);
      }
    });
    server.listen(port, host, () => resolve(server.address() as AddressInfo));
  });
}
