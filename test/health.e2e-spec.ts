import { DataSource } from 'typeorm';
import type { TestApp } from './support/app';
import { bootApp } from './support/app';

describe('GET /health', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await bootApp();
  });
  afterAll(() => app.stop());

  it('reports the broker and the database up with 200', async () => {
    const res = await fetch(`${app.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'ok',
      broker: { connected: true },
      database: { connected: true },
    });
  });

  it('answers 503 naming the database when it is down', async () => {
    const db = app.app.get(DataSource);
    await db.destroy();
    try {
      const res = await fetch(`${app.url}/health`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({
        status: 'down',
        broker: { connected: true },
        database: { connected: false },
      });
    } finally {
      await db.initialize();
    }
    expect((await fetch(`${app.url}/health`)).status).toBe(200);
  });
});
