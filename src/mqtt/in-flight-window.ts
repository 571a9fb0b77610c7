/**
 * How far a transport's reader may run ahead of the event log. Both brokers'
 * clients read a connection's next packets only once the previous ones are
 * handed back, so holding each message until it is logged would make the
 * reader wait out every commit; instead it goes on reading while fewer than
 * `limit` messages are on their way to the log, and waits for the log after.
 */
export class InFlightWindow {
  private count = 0;
  private held: (() => void)[] = [];

  /** @param limit messages handed to ingestion and not yet logged, at most. */
  constructor(private readonly limit: number) {}

  /** Messages handed on and not yet logged. */
  get size(): number {
    return this.count;
  }

  /** Counts one message in; the function returned counts it out (once logged, or dropped). */
  enter(): () => void {
    this.count++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.count--;
      if (this.count < this.limit) for (const release of this.held.splice(0)) release();
    };
  }

  /** Lets the reader go on: now while there is room, else once there is. */
  proceed(release: () => void): void {
    if (this.count < this.limit) release();
    else this.held.push(release);
  }

  /** Lets every held reader go (the transport is stopping). */
  releaseAll(): void {
    for (const release of this.held.splice(0)) release();
  }
}
