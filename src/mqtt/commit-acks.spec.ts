import { CommitAcks } from './commit-acks';

describe('CommitAcks', () => {
  it('sends an acknowledgement asked for before the commit at the commit, once', () => {
    const acks = new CommitAcks();
    const sent: number[] = [];
    const committed = acks.hold(7);
    expect(acks.defer(7, () => sent.push(7))).toBe(true);
    expect(sent).toEqual([]);
    committed();
    committed();
    expect(sent).toEqual([7]);
    expect(acks.pending).toBe(0);
  });

  it('lets an acknowledgement asked for after the commit go at once', () => {
    const acks = new CommitAcks();
    acks.hold(3)();
    expect(acks.defer(3, () => undefined)).toBe(false);
    expect(acks.pending).toBe(0);
  });

  it('sends an acknowledgement given up front once the commit is reported', () => {
    const acks = new CommitAcks<object>();
    const sent: string[] = [];
    const committed = acks.afterCommit({}, () => sent.push('puback'));
    expect(acks.pending).toBe(1);
    committed();
    expect(sent).toEqual(['puback']);
    expect(acks.pending).toBe(0);
  });

  it('does not hold what it was never given', () => {
    expect(new CommitAcks().defer(1, () => undefined)).toBe(false);
  });

  it('drops what it holds when the connection closes: nothing is sent later', () => {
    const acks = new CommitAcks();
    const sent: number[] = [];
    const committed = acks.hold(1);
    acks.defer(1, () => sent.push(1));
    expect(acks.close()).toBe(1);
    committed();
    expect(sent).toEqual([]);
  });

  it('settles once nothing is held, or says it did not at the deadline', async () => {
    const acks = new CommitAcks();
    const committed = acks.hold(1);
    acks.defer(1, () => undefined);
    const settling = acks.settled(10_000);
    committed();
    await expect(settling).resolves.toBe(true);
    acks.hold(2);
    acks.defer(2, () => undefined);
    await expect(acks.settled(1)).resolves.toBe(false);
  });
});
