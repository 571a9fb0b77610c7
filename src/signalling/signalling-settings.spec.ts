import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignallingConfigError, loadSignallingSettings } from './signalling-settings';

function problemsOf(keys?: string, rooms?: string): string[] {
  try {
    loadSignallingSettings({ keys, rooms });
  } catch (err) {
    if (err instanceof SignallingConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('loadSignallingSettings', () => {
  it('has no keys and no rooms when unset', () => {
    const settings = loadSignallingSettings({});
    expect(settings.keys.size).toBe(0);
    expect(settings.rooms.size).toBe(0);
  });

  it('reads inline JSON keys with their defaults', () => {
    const settings = loadSignallingSettings({ keys: '{"pk_live_demo": {"channels": ["things/**"]}}' });
    expect(settings.keys.get('pk_live_demo')).toEqual({
      key: 'pk_live_demo',
      channels: ['things/**'],
      permissions: ['subscribe', 'publish', 'presence'],
      origins: '*',
      maxConnections: 100,
      disabled: false,
      quotaPeriodSec: 86_400,
    });
  });

  it('reads keys and rooms from YAML files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dhb-signalling-'));
    writeFileSync(
      join(dir, 'keys.yaml'),
      [
        'pk_live_web:',
        '  channels: ["room-*", "things/camera/**"]',
        '  permissions: [subscribe, publish, presence, send]',
        '  origins: ["https://app.example.com/", "http://localhost:5173"]',
        '  maxConnections: 2',
        '  maxMessagesPerPeriod: 10000',
        '  quotaPeriodSec: 3600',
        '  metadata: {iceServers: [{urls: "stun:stun.example.com"}]}',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'rooms.json'), JSON.stringify({ lobby: ['things/camera/front-door/**'] }));
    const settings = loadSignallingSettings({ keys: join(dir, 'keys.yaml'), rooms: join(dir, 'rooms.json') });
    expect(settings.keys.get('pk_live_web')).toMatchObject({
      permissions: ['subscribe', 'publish', 'presence', 'send'],
      origins: ['https://app.example.com', 'http://localhost:5173'],
      maxConnections: 2,
      maxMessagesPerPeriod: 10_000,
      quotaPeriodSec: 3600,
      metadata: { iceServers: [{ urls: 'stun:stun.example.com' }] },
    });
    expect([...settings.rooms]).toEqual([['lobby', ['things/camera/front-door/**']]]);
  });

  it('names every bad key field and room at once', () => {
    const problems = problemsOf(
      JSON.stringify({
        sk_secret: { channels: ['a'] },
        pk_a: {
          channels: [],
          permissions: ['fly'],
          origins: ['not a url'],
          maxConnections: 0,
          maxMessagesPerPeriod: 1.5,
          quotaPeriodSec: 0,
          colour: 'red',
        },
        pk_b: 'nope',
      }),
      JSON.stringify({ '_system/x': ['a'], 'room*': ['a'], lobby: [], ok: ['things/**'] }),
    );
    expect(problems).toEqual([
      'SIGNALLING_KEYS: sk_secret: a key must look like pk_… (letters, digits, _ or -, at most 128 characters)',
      'SIGNALLING_KEYS: pk_a.channels: expected a list of 1 to 100 channel patterns',
      'SIGNALLING_KEYS: pk_a.permissions: expected a list drawn from publish, subscribe, presence, send',
      'SIGNALLING_KEYS: pk_a.origins: expected "*" or a list of origins such as https://app.example.com',
      'SIGNALLING_KEYS: pk_a.maxConnections: expected a positive integer',
      'SIGNALLING_KEYS: pk_a.maxMessagesPerPeriod: expected a positive integer',
      'SIGNALLING_KEYS: pk_a.quotaPeriodSec: expected a positive integer',
      'SIGNALLING_KEYS: pk_a: unknown field(s) colour',
      'SIGNALLING_KEYS: pk_b: expected an object with channels, permissions, origins, maxConnections',
      'SIGNALLING_ROOMS: _system/x: room uses a reserved prefix (_metered/, _internal/, _system/)',
      'SIGNALLING_ROOMS: room*: room must be a channel name, not a pattern',
      'SIGNALLING_ROOMS: lobby: expected a list of 1 to 100 channel patterns',
    ]);
  });

  it('reports a missing file and unparsable text', () => {
    expect(problemsOf('/nowhere/keys.yaml')).toEqual([
      'SIGNALLING_KEYS=/nowhere/keys.yaml: expected inline JSON or the path of a JSON or YAML file; none is there',
    ]);
    expect(problemsOf(undefined, '{"lobby": [')).toEqual([
      expect.stringMatching(/^SIGNALLING_ROOMS: inline JSON does not parse: /),
    ]);
  });

  it('prints as one message naming each problem', () => {
    expect(() => loadSignallingSettings({ keys: '[]' })).toThrow(
      'Invalid configuration:\n  - SIGNALLING_KEYS: expected an object of publishable keys, {"pk_live_…": {"channels": [...], ...}}',
    );
  });
});
