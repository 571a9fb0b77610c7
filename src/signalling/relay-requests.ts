import { randomUUID } from 'node:crypto';

interface Pending {
  waiting: Set<string>;
  answers: unknown[];
  finish: () => void;
}

/**
 * Requests to several instances at once (`GET /admin/peers`, admin
 * disconnect): each asked instance answers once; the request completes with
 * every answer, or with those that came when the deadline passes or the
 * others are known to be gone. An admin call is never held longer than that.
 */
export class RelayRequests {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly timeoutMs: number) {}

  /** Sends the request (through `ask`, given its id) to each instance and gathers the answers. */
  gather(instances: readonly string[], ask: (requestId: string, instance: string) => void): Promise<unknown[]> {
    if (instances.length === 0) return Promise.resolve([]);
    const requestId = randomUUID();
    return new Promise<unknown[]>((resolve) => {
      const pending: Pending = {
        waiting: new Set(instances),
        answers: [],
        finish: () => {
          clearTimeout(timer);
          this.pending.delete(requestId);
          resolve(pending.answers);
        },
      };
      const timer = setTimeout(pending.finish, this.timeoutMs);
      this.pending.set(requestId, pending);
      for (const instance of instances) ask(requestId, instance);
    });
  }

  answer(requestId: string, instance: string, answer: unknown): void {
    const pending = this.pending.get(requestId);
    if (!pending?.waiting.delete(instance)) return;
    pending.answers.push(answer);
    if (pending.waiting.size === 0) pending.finish();
  }

  /** An instance gone: nothing more will come from it. */
  gone(instance: string): void {
    for (const pending of [...this.pending.values()]) {
      if (pending.waiting.delete(instance) && pending.waiting.size === 0) pending.finish();
    }
  }

  /** Shutdown: complete everything with what has come. */
  close(): void {
    for (const pending of [...this.pending.values()]) pending.finish();
  }
}
