/**
 * Messages the embedded broker has accepted from its clients but not yet
 * handed to every subscriber (ingestion among them, which takes a message
 * over at once and logs it before the service stops).
 *
 * aedes acknowledges a QoS 1 message (PUBACK) when it accepts it, before any
 * subscriber has it. So a shutdown that closed the broker at once would drop
 * messages their senders were told had arrived; instead it stops accepting,
 * then waits for this count to reach zero.
 *
 * Counted per client: a message whose PUBACK cannot be written (its client
 * went away in between) is dropped by aedes and never handed on, so what a
 * gone client still has pending is written off shortly after it leaves,
 * rather than keeping every later shutdown waiting.
 */
export class AcceptedMessages<Client extends object> {
  private readonly byClient = new Map<Client, number>();
  private total = 0;
  private waiters: (() => void)[] = [];

  /** @param graceMs how long a gone client's accepted messages may still take to be handed on. @default 1000 */
  constructor(private readonly graceMs = 1000) {}

  get pending(): number {
    return this.total;
  }

  /** The broker let a client's message in (`authorizePublish` said yes). */
  accept(client: Client): void {
    this.byClient.set(client, (this.byClient.get(client) ?? 0) + 1);
    this.total++;
  }

  /** A client's message reached every subscriber (aedes' `publish` event). */
  handOn(client: Client): void {
    const count = this.byClient.get(client);
    if (count === undefined) return;
    if (count > 1) this.byClient.set(client, count - 1);
    else this.byClient.delete(client);
    this.settle(1);
  }

  /** The client disconnected (aedes' `clientDisconnect`). */
  gone(client: Client): void {
    setTimeout(() => {
      const count = this.byClient.get(client);
      if (count === undefined) return;
      this.byClient.delete(client);
      this.settle(count);
    }, this.graceMs).unref();
  }

  /**
   * Resolves true once every accepted message has been handed on, or false at
   * the deadline, so that shutdown never waits forever.
   */
  settled(timeoutMs: number): Promise<boolean> {
    if (this.total === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(wake);
    });
  }

  private settle(count: number): void {
    this.total -= count;
    if (this.total === 0) this.waiters.splice(0).forEach((wake) => wake());
  }
}
