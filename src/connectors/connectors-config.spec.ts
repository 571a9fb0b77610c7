import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectorsConfig } from '../config/app-config';
import type { ConnectorsConfigError } from './connectors-config';
import { loadConnectorDefinitions } from './connectors-config';

const base: ConnectorsConfig = {
  allowPrivate: false,
  failingAfterMs: 600_000,
  retryInitialMs: 1000,
  retryMaxMs: 300_000,
  leaseTtlMs: 15_000,
};

describe('CONNECTORS', () => {
  it('reads inline JSON with defaults applied', () => {
    const [d] = loadConnectorDefinitions({
      ...base,
      definitions: JSON.stringify([
        { name: 'a', url: 'https://example.com/in', secret: 'a-secret-of-16-chars', event_types: ['data'] },
      ]),
    });
    expect(d).toEqual({
      name: 'a',
      url: 'https://example.com/in',
      filter: { event_types: ['data'] },
      batchSize: 100,
      timeoutMs: 10_000,
      headers: {},
      secret: 'a-secret-of-16-chars',
      paused: false,
    });
  });

  it('reads a YAML file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'dhb-connectors-')), 'connectors.yaml');
    writeFileSync(file, '- name: b\n  url: https://example.com/b\n  secret: another-secret-0123\n  batch_size: 7\n');
    expect(loadConnectorDefinitions({ ...base, definitions: file })[0]).toMatchObject({ name: 'b', batchSize: 7 });
  });

  it('names every problem at once', () => {
    const definitions = JSON.stringify([
      { name: 'a', url: 'http://127.0.0.1/' },
      { name: 'a', url: 'https://example.com/', secret: 'short' },
      { url: 'https://example.com/', secret: 'a-secret-of-16-chars' },
    ]);
    let error: ConnectorsConfigError | undefined;
    try {
      loadConnectorDefinitions({ ...base, definitions });
    } catch (err) {
      error = err as ConnectorsConfigError;
    }
    expect(error?.problems).toEqual([
      expect.stringMatching(/^CONNECTORS\[0\]\.url: .*CONNECTORS_ALLOW_PRIVATE/),
      expect.stringMatching(/^CONNECTORS\[0\]\.secret: required/),
      expect.stringMatching(/^CONNECTORS\[1\]\.secret: must be a string of 16/),
      expect.stringMatching(/^CONNECTORS\[2\]\.name: /),
    ]);
  });

  it('refuses what is not a list, and a path with no file', () => {
    expect(() => loadConnectorDefinitions({ ...base, definitions: '{"a": 1}' })).toThrow(/expected a list/);
    expect(() => loadConnectorDefinitions({ ...base, definitions: '/nowhere/c.yaml' })).toThrow(/none is there/);
  });
});
