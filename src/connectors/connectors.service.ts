import type { OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { EventLogRepository } from '../bus/event-log.repository';
import { DomainError, InvalidRequestError, NotFoundError } from '../common/domain-error';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';
import type { ConnectorRecord } from './connector.entity';
import type {
  ConnectorDefinition,
  CreateConnectorBody,
  PatchConnectorBody,
  ReplayConnectorBody,
} from './connector-definition';
import { definitionFrom, generateSecret, patchedFilter } from './connector-definition';
import { ConnectorDeliveryService } from './connector-delivery.service';
import { loadConnectorDefinitions } from './connectors-config';
import { ConnectorsRepository } from './connectors.repository';
import type { ConnectorView, TestResult } from './connector-view';
import { connectorView } from './connector-view';
import { deliveryHeaders, testBody } from './delivery-body';
import { targetUrlProblem } from './url-safety';
import { WebhookSender } from './webhook-sender';

/**
 * The admin side of data connectors (issue #16): definitions from
 * CONNECTORS and from `/admin/connectors`, operator controls (pause,
 * resume, replay, test) and the figures operators read. Every change is
 * written to the connector's row and announced; the instance delivering
 * the connector (ConnectorDeliveryService) takes it from there.
 */
@Injectable()
export class ConnectorsService implements OnModuleInit {
  private readonly logger = new Logger('Connectors');
  private readonly configured: ConnectorDefinition[];

  constructor(
    private readonly repository: ConnectorsRepository,
    private readonly delivery: ConnectorDeliveryService,
    private readonly log: EventLogRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.configured = loadConnectorDefinitions(config.connectors);
  }

  /** Configuration is the record of configured connectors: rows follow it, cursors stay. */
  async onModuleInit(): Promise<void> {
    const names = new Set(this.configured.map((d) => d.name));
    const rows = new Map((await this.repository.all()).map((r) => [r.name, r]));
    for (const definition of this.configured) {
      const row = rows.get(definition.name);
      if (row === undefined) {
        await this.insert(definition, 'config').catch(async (err: unknown) => {
          // Another instance starting with the same configuration made it first.
          if ((await this.repository.find(definition.name)) === undefined) throw err;
        });
        continue;
      }
      if (row.source === 'admin')
        this.logger.warn(
          `Connector ${definition.name} is defined in CONNECTORS: it replaces the one made by the admin API`,
        );
      const { paused: _paused, ...fields } = recordFields(definition);
      if (row.source === 'admin' || JSON.stringify(pick(row, fields)) !== JSON.stringify(fields))
        await this.repository.change(definition.name, { ...fields, source: 'config' });
    }
    for (const row of rows.values()) {
      if (row.source === 'config' && !names.has(row.name)) await this.repository.delete(row.name);
    }
  }

  async list(): Promise<ConnectorView[]> {
    return Promise.all((await this.repository.all()).map((row) => this.view(row)));
  }

  async get(name: string): Promise<ConnectorView> {
    return this.view(await this.row(name));
  }

  /** Creates a connector delivering from now on; the answer holds its secret, the only time it is shown. */
  async create(body: CreateConnectorBody): Promise<ConnectorView & { secret: string }> {
    this.checkUrl(body.url);
    if ((await this.repository.find(body.name)) !== undefined)
      throw new DomainError('connector_exists', `A connector named ${body.name} exists already`, 409);
    const definition = definitionFrom(body);
    const record = await this.insert(definition, 'admin');
    this.delivery.changed();
    return { ...(await this.view(record)), secret: record.secret };
  }

  async patch(name: string, body: PatchConnectorBody): Promise<ConnectorView> {
    const row = await this.row(name);
    this.refuseConfigured(row);
    if (body.url !== undefined) this.checkUrl(body.url);
    const fields: Partial<ConnectorRecord> = {
      filter: patchedFilter(row.filter, body),
      ...(body.url !== undefined ? { url: body.url } : {}),
      ...(body.batch_size !== undefined ? { batchSize: body.batch_size } : {}),
      ...(body.timeout_ms !== undefined ? { timeoutMs: body.timeout_ms } : {}),
      ...(body.headers !== undefined ? { headers: body.headers } : {}),
      ...(body.secret !== undefined ? { secret: body.secret } : {}),
      ...(body.paused !== undefined ? { paused: body.paused } : {}),
    };
    return this.change(name, fields);
  }

  async delete(name: string): Promise<void> {
    this.refuseConfigured(await this.row(name));
    if (!(await this.repository.delete(name))) throw notFound(name);
    this.delivery.changed();
  }

  pause(name: string): Promise<ConnectorView> {
    return this.change(name, { paused: true });
  }

  resume(name: string): Promise<ConnectorView> {
    return this.change(name, { paused: false });
  }

  /** Delivers again from an event id (inclusive) or from a time on; a position pruned already brings a `reset`. */
  async replay(name: string, body: ReplayConnectorBody): Promise<ConnectorView> {
    if ((body.from_id === undefined) === (body.from_time === undefined))
      throw new InvalidRequestError({ body: 'give exactly one of from_id and from_time' });
    await this.row(name);
    let cursor: number;
    if (body.from_id !== undefined) cursor = Math.max(0, Number(body.from_id) - 1);
    else {
      const first = await this.repository.firstIdSince(Date.parse(body.from_time as string));
      cursor = first === undefined ? await this.log.lastId() : first - 1;
    }
    if (!(await this.repository.replay(name, cursor))) throw notFound(name);
    this.delivery.changed();
    return this.get(name);
  }

  /** Sends a signed delivery with no events (`"test": true`) and says how the receiver answered. */
  async test(name: string): Promise<TestResult> {
    const row = await this.row(name);
    const sender = new WebhookSender(row.url, this.config.connectors.allowPrivate);
    const deliveryId = `${name}:test-${randomUUID()}`;
    const body = testBody(name, deliveryId);
    try {
      const result = await sender.send(body, deliveryHeaders(row, deliveryId, body), row.timeoutMs);
      return {
        ok: result.ok,
        status: result.status ?? null,
        error: result.error ?? null,
        duration_ms: result.durationMs,
        delivery_id: deliveryId,
      };
    } finally {
      sender.close();
    }
  }

  /** The names of connectors failing for longer than CONNECTORS_FAILING_AFTER, as last read (for /health). */
  failing(now = Date.now()): string[] {
    return this.delivery.known
      .filter((row) => {
        const worker = this.delivery.worker(row.name);
        if (worker) return worker.failing(now);
        return row.failingSince !== null && now - row.failingSince >= this.config.connectors.failingAfterMs;
      })
      .map((row) => row.name);
  }

  private async change(name: string, fields: Partial<ConnectorRecord>): Promise<ConnectorView> {
    if (!(await this.repository.change(name, fields))) throw notFound(name);
    this.delivery.changed();
    return this.get(name);
  }

  private async insert(definition: ConnectorDefinition, source: 'config' | 'admin'): Promise<ConnectorRecord> {
    const now = Date.now();
    const record: ConnectorRecord = {
      ...recordFields(definition),
      secret: definition.secret ?? generateSecret(),
      source,
      version: 1,
      // A new connector delivers what is committed from now on; a replay brings older events.
      cursorId: await this.log.lastId(),
      cursorEpoch: 1,
      leaseOwner: null,
      leaseUntil: 0,
      deliveries: 0,
      failures: 0,
      eventsDelivered: 0,
      lastStatus: null,
      lastError: null,
      lastAttemptAt: null,
      lastSuccessAt: null,
      failingSince: null,
      createdAt: now,
      updatedAt: now,
    };
    await this.repository.insert(record);
    return record;
  }

  private async view(row: ConnectorRecord): Promise<ConnectorView> {
    const worker = this.delivery.worker(row.name);
    const figures = worker?.figures;
    const cursor = Math.max(row.cursorId, figures?.cursor ?? 0);
    const head = Math.max(this.delivery.logHead, cursor);
    let lagSeconds = 0;
    if (head > cursor) {
      const oldest = figures?.oldestPendingAt ?? (await this.repository.receivedAfter(cursor));
      if (oldest !== undefined) lagSeconds = Math.max(0, (Date.now() - oldest) / 1000);
    }
    return connectorView(row, {
      cursor,
      lagEvents: head - cursor,
      lagSeconds,
      failingAfterMs: this.config.connectors.failingAfterMs,
      ...(figures ? { live: figures } : {}),
    });
  }

  private async row(name: string): Promise<ConnectorRecord> {
    const row = await this.repository.find(name);
    if (row === undefined) throw notFound(name);
    return row;
  }

  private checkUrl(url: string): void {
    const problem = targetUrlProblem(url, this.config.connectors.allowPrivate);
    if (problem) throw new InvalidRequestError({ url: problem });
  }

  private refuseConfigured(row: ConnectorRecord): void {
    if (row.source === 'config')
      throw new DomainError(
        'connector_configured',
        `Connector ${row.name} is defined in CONNECTORS; change it there (pause, resume, replay and test work here)`,
        409,
      );
  }
}

function notFound(name: string): NotFoundError {
  return new NotFoundError('connector_not_found', `No connector named ${name}`);
}

/** The row fields a definition sets. */
function recordFields(d: ConnectorDefinition): Pick<
  ConnectorRecord,
  'name' | 'url' | 'filter' | 'batchSize' | 'timeoutMs' | 'headers' | 'paused'
> & {
  secret?: string;
} {
  return {
    name: d.name,
    url: d.url,
    filter: d.filter,
    batchSize: d.batchSize,
    timeoutMs: d.timeoutMs,
    headers: d.headers,
    ...(d.secret !== undefined ? { secret: d.secret } : {}),
    paused: d.paused,
  };
}

function pick(row: ConnectorRecord, like: object): Record<string, unknown> {
  return Object.fromEntries(Object.keys(like).map((k) => [k, row[k as keyof ConnectorRecord]]));
}
