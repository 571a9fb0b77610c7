/**
 * Data connectors across restarts and retention (issue #16): the cursor
 * lives in the database, so a restart in the middle of a delivery loses
 * nothing (the unacknowledged batch comes again: at least once), and a
 * cursor that fell out of EVENT_RETENTION gets a `reset` notice, never a
 * silent gap.
 */
import { EventLogRepository } from '../src/bus/event-log.repository';
import type { ConnectorView } from '../src/connectors/connector-view';
import type { Storage, TestApp } from './support/app';
import { bootApp, freshStorage } from './support/app';
import { CONNECTOR_TEST_ENV, admin, publishEvents } from './support/connectors';
import { waitFor } from './support/wait';
import { WebhookReceiver } from './support/webhook-receiver';

describe('data connectors across restarts', () => {
  let storage: Storage;
  let receiver: WebhookReceiver;
  let app: TestApp | undefined;

  beforeAll(async () => {
    storage = await freshStorage();
    receiver = new WebhookReceiver();
    await receiver.start();
  });
  afterAll(async () => {
    await app?.stop();
    await receiver.stop();
    await storage.dispose();
  });

  it('resumes after the last acknowledged event when the service restarts mid-delivery', async () => {
    app = await bootApp(CONNECTOR_TEST_ENV, storage);
    expect(
      (await admin(app, 'POST', '/admin/connectors', { name: 'durable', url: receiver.url, batch_size: 5 })).status,
    ).toBe(201);
    // The first batch is acknowledged; the second hangs until the service stops under it.
    receiver.answer = (r) => (receiver.requests.indexOf(r) === 0 ? { status: 200 } : 'hang');
    const first = (await publishEvents(app, 12)).map((e) => e.id);
    await waitFor(() => (receiver.requests.length >= 2 ? true : undefined), 'the second request in flight');
    expect(receiver.acknowledgedIds()).toEqual(first.slice(0, 5));
    await app.stop();

    receiver.answer = () => ({ status: 200 });
    app = await bootApp(CONNECTOR_TEST_ENV, storage);
    const second = (await publishEvents(app, 3, { from: 12 })).map((e) => e.id);
    const all = [...first, ...second];
    await waitFor(() => (all.every((id) => receiver.acknowledgedIds().includes(id)) ? true : undefined), 'every event');
    // Nothing acknowledged comes again; the batch in flight at the stop does, and order holds.
    expect(receiver.acknowledgedIds()).toEqual(all);
    expect(receiver.receivedIds().slice(5, 10)).toEqual(first.slice(5, 10));
    const running = app;
    await waitFor(async () => {
      const view = (await admin<ConnectorView>(running, 'GET', '/admin/connectors/durable')).body;
      return view.events_delivered === all.length && view.lag.events === 0 ? true : undefined;
    }, 'the acknowledged events counted');
    await admin(app, 'DELETE', '/admin/connectors/durable');
    await app.stop();
    app = undefined;
  });

  it('says `reset` in the next delivery when events behind the cursor were pruned', async () => {
    app = await bootApp({ ...CONNECTOR_TEST_ENV, EVENT_RETENTION: '1s' }, storage);
    receiver.requests.length = 0;
    const created = await admin<ConnectorView>(app, 'POST', '/admin/connectors', {
      name: 'late',
      url: receiver.url,
      paused: true,
    });
    const lost = (await publishEvents(app, 3)).map((e) => e.id);
    const log = app.app.get(EventLogRepository);
    await waitFor(
      async () => ((await log.prunedThrough()) >= Number(lost[2]) ? true : undefined),
      'retention to prune the events behind the cursor',
      5000,
    );
    const fresh = (await publishEvents(app, 1)).map((e) => e.id);
    await admin(app, 'POST', '/admin/connectors/late/resume');
    await waitFor(() => (receiver.acknowledgedIds().includes(fresh[0]) ? true : undefined), 'the fresh event');
    const [notice] = receiver.requests.filter((r) => r.body.connector === 'late');
    expect(notice.body.reset).toEqual({ requested: created.body.cursor, retained_after: expect.any(String) });
    expect(Number(notice.body.reset?.retained_after)).toBeGreaterThanOrEqual(Number(lost[2]));
    expect(notice.body.events.map((e) => e.id)).toEqual(fresh);
  });
});
