import { InFlightWindow } from './in-flight-window';

describe('InFlightWindow', () => {
  it('lets the reader go on at once while there is room, and holds it once the limit is reached', () => {
    const window = new InFlightWindow(2);
    const released: number[] = [];
    const first = window.enter();
    window.proceed(() => released.push(1));
    const second = window.enter();
    window.proceed(() => released.push(2));
    expect(released).toEqual([1]);
    expect(window.size).toBe(2);

    // One logged: room again, the held reader goes on.
    first();
    expect(released).toEqual([1, 2]);
    // Counting a message out twice changes nothing.
    first();
    expect(window.size).toBe(1);
    second();
    expect(window.size).toBe(0);
  });

  it('releases every held reader when the transport stops', () => {
    const window = new InFlightWindow(1);
    const released: string[] = [];
    window.enter();
    window.proceed(() => released.push('a'));
    window.enter();
    window.proceed(() => released.push('b'));
    expect(released).toEqual([]);
    window.releaseAll();
    expect(released).toEqual(['a', 'b']);
  });
});
