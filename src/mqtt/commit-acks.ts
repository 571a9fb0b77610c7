/**
 * Acknowledgements that wait for the event log (issue #11): a QoS 1 message
 * is acknowledged to its sender only once its event is committed, so an
 * acknowledgement is a promise about durable storage, as with Kafka's
 * `acks=all`.
 *
 * Both brokers' clients would write the PUBACK as soon as the bridge hands a
 * message back, and read a connection's next packets only after that. So the
 * transports hand messages back at once (reading goes on, up to their
 * InFlightWindow) and give the acknowledgement to this class instead: it
 * holds it until the commit, then sends it. The MQTT packet identifier of an
 * unacknowledged message stays in use (MQTT-2.3.1-2), so it names the message
 * until then.
 *
 * One instance per connection: when the connection goes, what it still holds
 * is dropped, since a PUBACK on the next connection would acknowledge another
 * message under the same identifier; the broker (or the device) sends those
 * messages again.
 */
export class CommitAcks<K = number> {
  /** By packet identifier (or any key naming one message): committed yet, and the acknowledgement once asked for. */
  private readonly held = new Map<K, { committed: boolean; send?: () => void }>();
  private closed = false;
  private waiters: (() => void)[] = [];

  /** Messages received and not yet acknowledged. */
  get pending(): number {
    return this.held.size;
  }

  /** A message came in under `messageId`; the function returned says it is committed. */
  hold(messageId: K): () => void {
    const entry: { committed: boolean; send?: () => void } = { committed: false };
    this.held.set(messageId, entry);
    return () => {
      if (this.closed || this.held.get(messageId) !== entry) return;
      if (entry.send) {
        this.held.delete(messageId);
        entry.send();
        this.settle();
      } else entry.committed = true;
    };
  }

  /**
   * For a broker that acknowledges through the bridge: `send` goes once the
   * function returned is called (the commit). Counted by `pending` meanwhile.
   */
  afterCommit(key: K, send: () => void): () => void {
    const committed = this.hold(key);
    this.defer(key, send);
    return committed;
  }

  /**
   * The client wants to acknowledge `messageId` now. Returns false when the
   * acknowledgement may go at once (not held, or already committed); else
   * keeps `send` for the commit and returns true.
   */
  defer(messageId: K, send: () => void): boolean {
    const entry = this.held.get(messageId);
    if (entry === undefined) return false;
    if (entry.committed) {
      this.held.delete(messageId);
      this.settle();
      return false;
    }
    entry.send = send;
    return true;
  }

  /** The connection went: nothing it held will be acknowledged. Returns how many were dropped. */
  close(): number {
    this.closed = true;
    const dropped = this.held.size;
    this.held.clear();
    this.settle();
    return dropped;
  }

  /** Resolves true once nothing is held, or false at the deadline. */
  settled(timeoutMs: number): Promise<boolean> {
    if (this.held.size === 0) return Promise.resolve(true);
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

  private settle(): void {
    if (this.held.size === 0) this.waiters.splice(0).forEach((wake) => wake());
  }
}
