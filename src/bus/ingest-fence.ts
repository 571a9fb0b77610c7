/**
 * A fencing token for ingestion (issue #12): the epoch of the ingest lease
 * under which an MQTT message was received. The log commits a batch that
 * carries fences only while each is still the lease's current epoch, checked
 * in the batch's own transaction (PostgreSQL); so an instance that lost the
 * lease (paused past its expiry, cut off from the database) can never commit
 * what its successor receives again from the broker: the successor's
 * messages, in the broker's order, are the only ones the log takes.
 */
export interface IngestFence {
  /** The lease's name: one per share group and topic prefix. */
  readonly lease: string;
  readonly epoch: number;
  /** False once this instance knows the epoch is over (the lease lapsed or was taken). */
  readonly current: boolean;
}

/** The log refused a batch because one of its fences is stale; nothing of that attempt was written. */
export class FencedError extends Error {
  readonly code = 'ingest_fenced';
  constructor(readonly fences: readonly IngestFence[]) {
    super(
      `ingest lease ${fences.map((f) => `${f.lease}@${f.epoch}`).join(', ')} is no longer held: the batch was not written`,
    );
  }
}
