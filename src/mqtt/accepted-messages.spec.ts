import { AcceptedMessages } from './accepted-messages';

describe('AcceptedMessages', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const a = { id: 'a' };
  const b = { id: 'b' };

  it('settles at once when nothing is pending, else once every accepted message is handed on', async () => {
    const accepted = new AcceptedMessages<object>();
    await expect(accepted.settled(1000)).resolves.toBe(true);
    accepted.accept(a);
    accepted.accept(a);
    accepted.accept(b);
    let settled: boolean | undefined;
    void accepted.settled(10_000).then((s) => (settled = s));
    accepted.handOn(a);
    accepted.handOn(b);
    await Promise.resolve();
    expect(settled).toBeUndefined();
    expect(accepted.pending).toBe(1);
    accepted.handOn(a);
    await Promise.resolve();
    expect(settled).toBe(true);
  });

  it('gives up at the deadline rather than holding shutdown forever', async () => {
    const accepted = new AcceptedMessages<object>();
    accepted.accept(a);
    const settled = accepted.settled(5000);
    jest.advanceTimersByTime(5000);
    await expect(settled).resolves.toBe(false);
  });

  it('writes off what a gone client still has pending after the grace period, not before', async () => {
    const accepted = new AcceptedMessages<object>(1000);
    accepted.accept(a);
    accepted.accept(a);
    accepted.accept(b);
    let settled: boolean | undefined;
    void accepted.settled(60_000).then((s) => (settled = s));
    accepted.gone(a);
    // A message already past its PUBACK may still be handed on after its client left.
    accepted.handOn(a);
    jest.advanceTimersByTime(999);
    expect(accepted.pending).toBe(2);
    jest.advanceTimersByTime(1);
    expect(accepted.pending).toBe(1);
    accepted.handOn(b);
    await Promise.resolve();
    expect(settled).toBe(true);
  });

  it('ignores hand-ons it never counted (a client written off already)', () => {
    const accepted = new AcceptedMessages<object>();
    accepted.accept(a);
    accepted.handOn(b);
    expect(accepted.pending).toBe(1);
  });
});
