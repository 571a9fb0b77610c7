import { Logger } from '@nestjs/common';
import { Subject } from 'rxjs';
import type { EventBusService, RefusedEvent } from '../bus/event-bus.service';
import { MetricsService } from '../observability/metrics.service';
import type { Reject } from './reject.entity';
import type { RejectsRepository } from './rejects.repository';
import { PAYLOAD_CAP, RejectsService } from './rejects.service';

class MemoryRepository {
  rows: Reject[] = [];
  failing = false;
  insert(rows: Omit<Reject, 'id'>[]): Promise<void> {
    if (this.failing) return Promise.reject(new Error('database unreachable'));
    for (const row of rows) this.rows.push({ id: this.rows.length + 1, ...row });
    return Promise.resolve();
  }
  prune(): Promise<void> {
    return Promise.resolve();
  }
  list(limit: number): Promise<Reject[]> {
    return Promise.resolve([...this.rows].reverse().slice(0, limit));
  }
}

describe('RejectsService', () => {
  let repo: MemoryRepository;
  let rejects: RejectsService;
  let warnings: string[];
  let refused: Subject<RefusedEvent>;

  beforeEach(() => {
    refused = new Subject<RefusedEvent>();
    const bus = { refused$: refused, drain: () => Promise.resolve() };
    jest.useFakeTimers({ now: Date.UTC(2025, 0, 15, 12, 0, 0) });
    warnings = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => {
      warnings.push(String(message));
    });
    repo = new MemoryRepository();
    rejects = new RejectsService(
      repo as unknown as RejectsRepository,
      new MetricsService(),
      bus as unknown as EventBusService,
    );
    rejects.onModuleInit();
  });
  afterEach(async () => {
    await rejects.beforeApplicationShutdown();
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  const record = (topic: string, payload: string | Buffer, reason: 'not_json' | 'oversized'): void =>
    rejects.record(topic, Buffer.from(payload), reason, `why ${reason}`, Date.now());

  it('logs the topic and reason, at most one line per reason per interval, then says how many it held back', () => {
    for (let i = 0; i < 3; i++) record(`things/ws/ws-${i}/data`, 'nope', 'not_json');
    record('things/ws/big/data', 'x'.repeat(10), 'oversized');
    expect(warnings).toEqual([
      'Rejected MQTT message on things/ws/ws-0/data: not_json: why not_json',
      'Rejected MQTT message on things/ws/big/data: oversized: why oversized',
    ]);
    jest.advanceTimersByTime(5000);
    record('things/ws/ws-9/data', 'nope', 'not_json');
    expect(warnings[2]).toBe(
      'Rejected MQTT message on things/ws/ws-9/data: not_json: why not_json (and 2 more since 2025-01-15T12:00:00.000Z)',
    );
    expect(rejects.counters()).toMatchObject({ not_json: 4, oversized: 1, schema_violation: 0 });
  });

  it('keeps every reject with its raw payload, capped, as text or base64', async () => {
    record('things/ws/a/data', 'not json {', 'not_json');
    record('things/ws/b/data', Buffer.from([0xff, 0x00, 0xfe]), 'not_json');
    record('things/ws/c/data', `a${'é'.repeat(PAYLOAD_CAP)}`, 'oversized');
    const [big, binary, text] = await rejects.list(10);
    expect(text).toMatchObject({ topic: 'things/ws/a/data', payload: 'not json {', payload_encoding: 'utf8' });
    expect(binary).toMatchObject({ payload: '/wD+', payload_encoding: 'base64', payload_size: 3 });
    // The cap falls inside a two-byte character: the excerpt stops before it instead of mangling it.
    expect(big).toMatchObject({ payload_encoding: 'utf8', payload_size: 1 + 2 * PAYLOAD_CAP });
    expect(big.payload).toBe(`a${'é'.repeat(PAYLOAD_CAP / 2 - 1)}`);
  });

  it('never throws at ingestion when the table cannot be written; the counts still go up', async () => {
    repo.failing = true;
    expect(() => record('things/ws/a/data', 'nope', 'not_json')).not.toThrow();
    await rejects.flush();
    expect(repo.rows).toEqual([]);
    expect(rejects.counters().not_json).toBe(1);
    expect(warnings.some((w) => w.includes('Could not store 1 rejected messages'))).toBe(true);
    repo.failing = false;
    record('things/ws/b/data', 'nope', 'not_json');
    expect((await rejects.list(10)).map((r) => r.topic)).toEqual(['things/ws/b/data']);
  });
  it('keeps an event the log refused as a log_refused reject, under its channel, with the database message', async () => {
    const at = '2025-01-15T11:59:00.000Z';
    const event = {
      event: 'data',
      device_type: 'ws',
      device_id: 'ws-1',
      data: { note: 'x'.repeat(10) },
      timestamp: at,
      received_at: at,
      message_id: 'm-1',
      opensMessage: true,
    };
    refused.next({ topic: 'things/ws/ws-1/data', event, detail: 'value too long for type character varying(128)' });
    const [stored] = await rejects.list(10);
    expect(stored).toEqual({
      id: 1,
      received_at: at,
      topic: 'things/ws/ws-1/data',
      reason: 'log_refused',
      detail: 'value too long for type character varying(128)',
      payload: JSON.stringify({ ...event, opensMessage: undefined }),
      payload_encoding: 'utf8',
      payload_size: JSON.stringify({ ...event, opensMessage: undefined }).length,
    });
    expect(rejects.counters().log_refused).toBe(1);
  });
});
