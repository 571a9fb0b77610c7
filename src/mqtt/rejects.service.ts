import type { BeforeApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Injectable, Logger } from '@nestjs/common';
import { isUtf8 } from 'node:buffer';
import type { Subscription } from 'rxjs';
import { EventBusService } from '../bus/event-bus.service';
import type { RefusedEvent } from '../bus/event-bus.service';
import { MetricsService } from '../observability/metrics.service';
import type { RejectReason } from './mqtt-router';
import { REJECT_REASONS } from './mqtt-router';
import { RateLimitedLog } from './rate-limited-log';
import type { Reject } from './reject.entity';
import { RejectsRepository } from './rejects.repository';

/** Bytes of a rejected payload kept for inspection. */
export const PAYLOAD_CAP = 4096;
/** Rows the rejects table keeps; older ones are pruned as new ones come. */
export const KEEP_REJECTS = 10_000;
/** Rejects waiting for the database at most; past this the oldest waiting are dropped (they are still counted). */
const MAX_WAITING = 1000;
/** A batch goes to the database this long after its first reject, or at once when this many wait. */
const FLUSH_MS = 1000;
const FLUSH_AT = 200;
const MAX_TOPIC_CHARS = 1024;
const MAX_DETAIL_CHARS = 2048;

/** A rejected message as `GET /admin/rejects` shows it. */
export interface RejectView {
  id: number;
  received_at: string;
  topic: string;
  reason: string;
  detail: string;
  payload: string;
  payload_encoding: 'utf8' | 'base64';
  payload_size: number;
}

/**
 * Where bad MQTT input ends up (issue #2): counted by reason, logged at most
 * once per reason every few seconds, kept with its raw payload (capped) in the
 * `rejects` table in batched, bounded writes, and dropped. Nothing here can
 * hold ingestion back: database trouble costs stored rows, never messages.
 */
@Injectable()
export class RejectsService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('MqttRejects');
  private readonly log = new RateLimitedLog((line) => this.logger.warn(line));
  private readonly counts = new Map<RejectReason, number>(REJECT_REASONS.map((r) => [r, 0]));
  private waiting: Omit<Reject, 'id'>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  /** Rows that never reached the table (queue overflow or database errors). */
  private lost = 0;

  private refusals: Subscription | undefined;

  constructor(
    private readonly repository: RejectsRepository,
    private readonly metrics: MetricsService,
    private readonly bus: EventBusService,
  ) {}

  /** Events the log refused are rejects too (issue #11, item 4): kept here, under their channel. */
  onModuleInit(): void {
    this.refusals = this.bus.refused$.subscribe((refused) => this.recordRefused(refused));
  }

  private recordRefused({ topic, event, detail }: RefusedEvent): void {
    let payload: string;
    try {
      const { opensMessage: _, ...shown } = event;
      payload = JSON.stringify(shown);
    } catch {
      // What made the log refuse it may be what JSON cannot hold (a BigInt, a cycle).
      payload = `${event.device_type}/${event.device_id} ${event.event} event (no JSON)`;
    }
    const receivedAt = Date.parse(event.received_at);
    this.record(topic, Buffer.from(payload), 'log_refused', detail, Number.isNaN(receivedAt) ? Date.now() : receivedAt);
  }

  /** Rejected messages since start-up, by reason (every reason present, zeros included). */
  counters(): Record<RejectReason, number> {
    return Object.fromEntries(this.counts) as Record<RejectReason, number>;
  }

  record(topic: string, payload: Buffer, reason: RejectReason, detail: string, receivedAt: number): void {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
    this.metrics.mqttRejected.inc({ reason });
    this.log.log(reason, `Rejected MQTT message on ${clip(topic, 200)}: ${reason}: ${clip(detail, 200)}`);
    if (this.waiting.length >= MAX_WAITING) {
      this.waiting.shift();
      this.lost++;
    }
    this.waiting.push({
      receivedAt,
      topic: clip(withoutNul(topic), MAX_TOPIC_CHARS),
      reason,
      // Parser messages quote the payload, NUL bytes included.
      detail: clip(withoutNul(detail), MAX_DETAIL_CHARS),
      ...keptPayload(payload),
      payloadSize: payload.length,
    });
    if (this.waiting.length >= FLUSH_AT) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), FLUSH_MS);
  }

  /** The newest stored rejects, after writing what is waiting so the list is up to date. */
  async list(limit: number, reason?: RejectReason): Promise<RejectView[]> {
    await this.flush();
    const rows = await this.repository.list(limit, reason);
    return rows.map((r) => ({
      id: r.id,
      received_at: new Date(r.receivedAt).toISOString(),
      topic: r.topic,
      reason: r.reason,
      detail: r.detail,
      payload: r.payload,
      payload_encoding: r.payloadEncoding,
      payload_size: r.payloadSize,
    }));
  }

  /** Resolves once everything recorded so far has been written (or given up on). */
  async flush(): Promise<void> {
    this.kick();
    while (this.writing) await this.writing;
  }

  /** The database closes after this: write what is waiting first. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.bus.drain();
    this.refusals?.unsubscribe();
    await this.flush();
    clearTimeout(this.timer);
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.waiting.length > 0) this.writing ??= this.writeLoop();
  }

  private async writeLoop(): Promise<void> {
    while (this.waiting.length > 0) {
      const rows = this.waiting;
      this.waiting = [];
      try {
        await this.repository.insert(rows);
        await this.repository.prune(KEEP_REJECTS);
      } catch (err) {
        this.lost += rows.length;
        this.log.log(
          'store',
          `Could not store ${rows.length} rejected messages (${this.lost} lost so far): ${String(err)}`,
        );
      }
    }
    this.writing = undefined;
  }
}

/** The first PAYLOAD_CAP bytes: as text when they are UTF-8 without NUL, else base64. */
function keptPayload(payload: Buffer): Pick<Reject, 'payload' | 'payloadEncoding'> {
  let head = payload.subarray(0, PAYLOAD_CAP);
  if (!head.includes(0)) {
    // The cap may cut a multi-byte character; up to 3 trailing bytes may belong to it.
    for (let cut = 0; cut <= 3 && cut < head.length; cut++) {
      const text = head.subarray(0, head.length - cut);
      if (isUtf8(text)) return { payload: text.toString('utf8'), payloadEncoding: 'utf8' };
      if (payload.length <= PAYLOAD_CAP) break;
    }
  }
  head = payload.subarray(0, PAYLOAD_CAP);
  return { payload: head.toString('base64'), payloadEncoding: 'base64' };
}

/** PostgreSQL text cannot hold NUL (MQTT forbids it in topics anyway; payload excerpts in errors may carry it). */
function withoutNul(text: string): string {
  return text.replaceAll('\u0000', '\uFFFD');
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
