import type { OnModuleDestroy } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { Redis } from 'ioredis';
import type { AppConfig } from '../config/app-config';
import { APP_CONFIG } from '../config/app-config';

type MessageHandler = (message: Buffer) => void;

/**
 * The one owner of Redis (`REDIS_URL`): a command connection and a
 * subscriber connection, both reconnecting forever with capped backoff.
 * Without `REDIS_URL` it is disabled and every caller takes its
 * single-instance path.
 */
@Injectable()
export class RedisRepository implements OnModuleDestroy {
  private readonly logger = new Logger(RedisRepository.name);
  private readonly commands?: Redis;
  private readonly subscriber?: Redis;
  private readonly handlers = new Map<string, MessageHandler[]>();
  private readonly reconnectListeners: (() => void)[] = [];
  private wasDown = false;
  /**
   * Instances sharing a log share keys and channels; deployments on one Redis
   * with different databases do not (`devicehub:{database}:…`).
   */
  private readonly namespace: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const db = config.database;
    this.namespace = `devicehub:${db.type === 'postgres' ? new URL(db.url).pathname.slice(1) || 'default' : 'local'}`;
    if (!config.redisUrl) return;
    const options = {
      // Reconnect forever: 50 ms doubling to 2 s.
      retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      lazyConnect: true,
    };
    this.commands = new Redis(config.redisUrl, options);
    this.subscriber = new Redis(config.redisUrl, { ...options, enableOfflineQueue: true });
    for (const client of [this.commands, this.subscriber]) {
      client.on('error', (err: Error) => {
        if (!this.wasDown) this.logger.warn(`Redis unreachable: ${err.message}`);
        this.wasDown = true;
      });
    }
    this.subscriber.on('ready', () => {
      const channels = [...this.handlers.keys()];
      if (channels.length > 0) this.subscriber?.subscribe(...channels).catch(() => undefined);
      if (this.wasDown) this.logger.log('Redis reachable again');
      this.wasDown = false;
      this.reconnectListeners.forEach((listener) => listener());
    });
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      for (const handler of this.handlers.get(channel.toString()) ?? []) handler(message);
    });
  }

  /** A key or channel name in this deployment's namespace. */
  key(name: string): string {
    return `${this.namespace}:${name}`;
  }

  get enabled(): boolean {
    return this.commands !== undefined;
  }

  /** True when Redis is configured and both connections are up. */
  get connected(): boolean {
    return this.commands?.status === 'ready' && this.subscriber?.status === 'ready';
  }

  async connect(): Promise<void> {
    if (!this.commands || !this.subscriber) return;
    // lazyConnect: a command issued earlier (a subscribe) may have started connecting already.
    await Promise.all(
      [this.commands, this.subscriber].map((c) => (c.status === 'wait' ? c.connect() : Promise.resolve())),
    );
  }

  /**
   * Subscribes, now if Redis answers, else as soon as it does: every 'ready'
   * subscribes again to every channel with a handler (SUBSCRIBE is idempotent;
   * ioredis only resubscribes what once succeeded), so Redis may be down at start-up.
   */
  async subscribe(channel: string, handler: MessageHandler): Promise<void> {
    if (!this.subscriber) return;
    this.handlers.set(channel, [...(this.handlers.get(channel) ?? []), handler]);
    await this.subscriber.subscribe(channel).catch((err: Error) => {
      this.logger.debug(`SUBSCRIBE ${channel} deferred until Redis answers: ${err.message}`);
    });
  }

  /** Called each time the subscriber connection is ready again after an outage. */
  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  /**
   * Fire-and-forget publish, dropped while Redis is down: the bus fills gaps
   * from the log, the signalling relay notices its seq gaps.
   */
  publish(channel: string, message: string): void {
    if (!this.commands || this.commands.status !== 'ready') return;
    this.commands.publish(channel, message).catch(() => undefined);
  }

  /** `SET key value NX PX ttl`, or renews it when this value already holds it. */
  async holdLease(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (!this.commands) return true;
    const script = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0 end`;
    const held = await this.commands.eval(script, 1, key, value, String(ttlMs));
    return held === 1;
  }

  async releaseLease(key: string, value: string): Promise<void> {
    if (!this.commands || this.commands.status !== 'ready') return;
    const script = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
    await this.commands.eval(script, 1, key, value).catch(() => undefined);
  }

  /** `HSET key field value`; false while Redis is down (the caller tries again at its next tick). */
  async hashSet(key: string, field: string, value: string): Promise<boolean> {
    if (!this.commands || this.commands.status !== 'ready') return false;
    return this.commands.hset(key, field, value).then(
      () => true,
      () => false,
    );
  }

  /** `HGETALL key`; undefined while Redis is down. */
  async hashGetAll(key: string): Promise<Record<string, string> | undefined> {
    if (!this.commands || this.commands.status !== 'ready') return undefined;
    return this.commands.hgetall(key).catch(() => undefined);
  }

  async hashDelete(key: string, ...fields: string[]): Promise<void> {
    if (!this.commands || this.commands.status !== 'ready' || fields.length === 0) return;
    await this.commands.hdel(key, ...fields).catch(() => undefined);
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all([this.commands?.quit().catch(() => undefined), this.subscriber?.quit().catch(() => undefined)]);
  }
}
