import type { OnModuleDestroy } from '@nestjs/common';
import { Injectable } from '@nestjs/common';

/**
 * Periodic idle traffic (SSE `: keepalive`, NDJSON pings) for many
 * connections from one timer per period, not one per connection: five
 * thousand idle streams on the default period share a single interval.
 */
@Injectable()
export class Heartbeats implements OnModuleDestroy {
  private readonly groups = new Map<number, { timer: NodeJS.Timeout; beats: Set<() => void> }>();

  /** Calls `beat` every `periodMs` until the returned function is called. */
  every(periodMs: number, beat: () => void): () => void {
    let group = this.groups.get(periodMs);
    if (group === undefined) {
      const beats = new Set<() => void>();
      const timer = setInterval(() => beats.forEach((b) => b()), periodMs);
      timer.unref();
      group = { timer, beats };
      this.groups.set(periodMs, group);
    }
    const joined = group;
    joined.beats.add(beat);
    return () => {
      if (!joined.beats.delete(beat) || joined.beats.size > 0) return;
      clearInterval(joined.timer);
      this.groups.delete(periodMs);
    };
  }

  onModuleDestroy(): void {
    for (const { timer } of this.groups.values()) clearInterval(timer);
    this.groups.clear();
  }
}
