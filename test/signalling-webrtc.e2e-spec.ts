import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';
import { launchChromium } from './support/browser';
import { adminFetch, broadcast, wsOrigin } from './fixtures/signalling/clients';

jest.setTimeout(90_000);

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><script src="/realtime.umd.js"></script></head>
<body><script>
  // What the page saw, read by the test.
  window.seen = { joined: null, peers: [], states: [], channelMessages: [], data: [], errors: [] };
  window.start = async (apiKey, url, room) => {
    const peer = new MeteredPeer.MeteredPeer({ apiKey, url });
    window.peer = peer;
    peer.on('error', ({ err }) => window.seen.errors.push(String(err)));
    peer.on('data', (ev) => window.seen.data.push(ev));
    peer.on('peer-joined', ({ peer: remote }) => {
      window.seen.peers.push(remote.id);
      remote.on('state-change', ({ to }) => window.seen.states.push(to));
      const listen = (channel) => { channel.onmessage = (e) => window.seen.channelMessages.push(e.data); };
      remote.pc.addEventListener('datachannel', (ev) => listen(ev.channel));
      // One side opens the data channel; opening it is what starts the WebRTC negotiation.
      if (peer.peerId < remote.id) {
        const channel = remote.pc.createDataChannel('hello');
        listen(channel);
        channel.onopen = () => channel.send('hello from ' + peer.peerId);
      }
    });
    peer.on('joined', (ev) => { window.seen.joined = ev; });
    await peer.join(room);
  };
</script></body></html>`;

/**
 * Two MeteredPeer clients in headless Chromium join a room through the
 * bridge, negotiate a real WebRTC connection to each other over its
 * signalling, and both receive a device event bound to the room.
 */
describe('MeteredPeer in a browser', () => {
  let app: TestApp;
  let site: Server;
  let siteUrl: string;
  let browser: Browser;

  beforeAll(async () => {
    const bundle = readFileSync(join(require.resolve('@metered-ca/realtime'), '..', 'index.umd.js'));
    site = createServer((req, res) => {
      if (req.url === '/realtime.umd.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    app = await bootApp({
      SIGNALLING_KEYS: JSON.stringify({
        pk_test_webrtc: {
          channels: ['lobby'],
          permissions: ['subscribe', 'publish', 'presence', 'send'],
          origins: [siteUrl],
        },
      }),
    });
    // Real host addresses in candidates (no mDNS names), so two pages on one machine can connect without STUN.
    browser = await launchChromium('WebRtcHideLocalIpsWithMdns');
  });
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await new Promise((resolve) => site?.close(resolve));
  });

  async function openPeer(): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    await page.goto(siteUrl);
    await page.evaluate(
      ([key, url]) =>
        (globalThis as unknown as { start(k: string, u: string, r: string): Promise<void> }).start(key, url, 'lobby'),
      ['pk_test_webrtc', wsOrigin(app)],
    );
    return page;
  }
  const seen = (page: Page): Promise<Seen> => page.evaluate(() => (globalThis as unknown as { seen: Seen }).seen);

  it('connects two peers over WebRTC and delivers the room device events to both', async () => {
    const prefix = app.config.mqtt.topicPrefix;
    expect(
      await adminFetch(app, 'PUT', '/admin/rooms/lobby', { channels: [`${prefix}/camera/front-door/**`] }),
    ).toMatchObject({ status: 200 });

    const alice = await openPeer();
    const bob = await openPeer();
    const [a, b] = await Promise.all([seen(alice), seen(bob)]);
    expect(a.joined?.channel).toBe('lobby');

    // A real peer connection: both ends reach "connected", and the data channel the
    // lower peer id opened carries its greeting to the other end.
    for (const page of [alice, bob]) {
      await page.waitForFunction(
        () => (globalThis as unknown as { seen: Seen }).seen.states.includes('connected'),
        undefined,
        { timeout: 30_000 },
      );
    }
    const [opener, receiver] = (a.joined?.peerId ?? '') < (b.joined?.peerId ?? '') ? [a, bob] : [b, alice];
    await receiver.waitForFunction(
      () => (globalThis as unknown as { seen: Seen }).seen.channelMessages.length > 0,
      undefined,
      { timeout: 30_000 },
    );
    expect((await seen(receiver)).channelMessages).toEqual([`hello from ${opener.joined?.peerId}`]);

    // Each sees exactly the other: the server that publishes on the room is never in presence.
    expect((await seen(alice)).peers).toEqual([b.joined?.peerId]);
    expect((await seen(bob)).peers).toEqual([a.joined?.peerId]);

    const event = await broadcast(app, 'camera', 'front-door', 'motion', { zone: 3 });
    for (const page of [alice, bob]) {
      await page.waitForFunction(() => (globalThis as unknown as { seen: Seen }).seen.data.length > 0, undefined, {
        timeout: 10_000,
      });
      expect((await seen(page)).data).toEqual([{ senderPeerId: '_server', data: event, kind: 'broadcast' }]);
    }
    expect([...(await seen(alice)).errors, ...(await seen(bob)).errors]).toEqual([]);
  });
});

interface Seen {
  joined: { peerId: string; channel: string } | null;
  peers: string[];
  states: string[];
  channelMessages: string[];
  data: unknown[];
  errors: string[];
}
