/** Resolves when `check` returns a value other than undefined; rejects at the deadline. */
export async function waitFor<T>(
  check: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The message an attempt was refused with; fails the test when it succeeds (a broker admitting a client it must refuse). */
export async function refusalOf(
  attempt: () => Promise<unknown>,
  what = 'the broker admitted the client',
): Promise<string> {
  try {
    await attempt();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(what);
}
