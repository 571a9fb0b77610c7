import type { OnModuleInit } from '@nestjs/common';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DomainError, InvalidRequestError, NotFoundError } from '../common/domain-error';
import { RoomBindingRepository } from './room-binding.repository';
import type { SignallingRelay } from './signalling-relay';
import { SIGNALLING_RELAY } from './signalling-relay';
import type { SignallingSettings } from './signalling-settings';
import { SIGNALLING_SETTINGS, patternsProblem, roomProblem } from './signalling-settings';
import { SubscriptionIndex } from './subscription-index';

export interface RoomBindingView {
  room: string;
  channels: string[];
  /** `config` bindings come from SIGNALLING_ROOMS and are read-only here. */
  source: 'config' | 'admin';
}

/**
 * Rooms bound to device selections (bridge.md, "Signalling mirror"). Bindings
 * from SIGNALLING_ROOMS are fixed; those made with the admin API are kept in
 * the database so a restart (or a deploy) does not silently unbind a room
 * that WebRTC clients are sitting in. Lookup uses the same pattern index as
 * subscriptions, so each device event costs a few map lookups, not a scan
 * of every binding. With several instances, a binding made on one is
 * announced through the relay and every other one reads it back from the
 * database (the one record of it), so all converge on what was written last.
 */
@Injectable()
export class RoomBindingsService implements OnModuleInit {
  private readonly logger = new Logger('Signalling');
  private readonly bindings = new Map<string, RoomBindingView>();
  private readonly index = new SubscriptionIndex<string>();
  private reloading: Promise<void> = Promise.resolve();

  constructor(
    private readonly repository: RoomBindingRepository,
    @Inject(SIGNALLING_SETTINGS) private readonly settings: SignallingSettings,
    @Inject(SIGNALLING_RELAY) private readonly relay: SignallingRelay,
  ) {}

  async onModuleInit(): Promise<void> {
    for (const [room, channels] of this.settings.rooms) this.bind({ room, channels, source: 'config' });
    for (const row of await this.repository.all()) {
      if (this.bindings.has(row.room)) {
        this.logger.warn(`Room ${row.room} is bound in SIGNALLING_ROOMS; its admin binding is ignored`);
        continue;
      }
      this.bind({ room: row.room, channels: row.channels, source: 'admin' });
    }
    this.relay.onRoomChanged((room) => {
      this.serially(() => this.reload(room)).catch((err: unknown) =>
        this.logger.warn(`Reading room bindings made on another instance failed: ${String(err)}`),
      );
    });
  }

  /** Changes and reloads one at a time: a read finishing late cannot undo a newer write here. */
  private serially<T>(job: () => Promise<T>): Promise<T> {
    const run = this.reloading.then(job);
    this.reloading = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Takes the admin bindings of one room (or all) from the database, as another instance wrote them. */
  private async reload(room: string | undefined): Promise<void> {
    const rows = room === undefined ? await this.repository.all() : await this.repository.find(room);
    const stored = new Map(rows.map((row) => [row.room, row.channels]));
    const known = room === undefined ? [...this.bindings.keys()] : [room];
    for (const name of new Set([...known, ...stored.keys()])) {
      if (this.bindings.get(name)?.source === 'config') continue;
      this.unbind(name);
      const channels = stored.get(name);
      if (channels !== undefined) this.bind({ room: name, channels, source: 'admin' });
    }
  }

  list(): RoomBindingView[] {
    return [...this.bindings.values()].sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0));
  }

  /** Creates or replaces an admin binding. */
  async put(room: string, channels: unknown): Promise<RoomBindingView> {
    const problems: Record<string, string> = {};
    const roomIssue = roomProblem(room);
    if (roomIssue) problems.room = roomIssue;
    const channelsIssue = patternsProblem(channels);
    if (channelsIssue) problems.channels = channelsIssue;
    if (Object.keys(problems).length > 0) throw new InvalidRequestError(problems);
    this.refuseConfigured(room);
    const view: RoomBindingView = { room, channels: [...new Set(channels as string[])], source: 'admin' };
    return this.serially(async () => {
      await this.repository.save(room, view.channels);
      this.unbind(room);
      this.bind(view);
      this.relay.roomChanged(room);
      return view;
    });
  }

  async delete(room: string): Promise<void> {
    this.refuseConfigured(room);
    await this.serially(async () => {
      // The database decides: the binding may come from another instance and not have reached this one yet.
      const stored = await this.repository.delete(room);
      if (!stored && !this.bindings.has(room)) throw new NotFoundError('room_not_found', `No room ${room} is bound`);
      this.unbind(room);
      this.relay.roomChanged(room);
    });
  }

  /** Calls `visit` once for each room bound to a pattern matching the device channel. */
  roomsFor(channel: string, visit: (room: string) => void): void {
    let first: ReadonlyMap<string, true> | undefined;
    let merged: Set<string> | undefined;
    this.index.match(channel, (entry) => {
      if (!first) return void (first = entry.subscribers);
      merged ??= new Set(first.keys());
      for (const room of entry.subscribers.keys()) merged.add(room);
    });
    for (const room of merged ?? first?.keys() ?? []) visit(room);
  }

  private refuseConfigured(room: string): void {
    if (this.bindings.get(room)?.source === 'config') {
      throw new DomainError('room_configured', `Room ${room} is bound in SIGNALLING_ROOMS; change it there`, 409);
    }
  }

  private bind(view: RoomBindingView): void {
    this.bindings.set(view.room, view);
    for (const pattern of view.channels) this.index.add(pattern, view.room, true);
  }

  private unbind(room: string): void {
    const view = this.bindings.get(room);
    if (!view) return;
    this.bindings.delete(room);
    for (const pattern of view.channels) this.index.remove(pattern, room);
  }
}
