/** A minimal SSE reader over fetch, for tests that need many streams and raw control. */
export interface SseMessage {
  event: string;
  id?: string;
  data: string;
}

export interface SseStream {
  messages: SseMessage[];
  /** Events parsed from `data` whose SSE event name is one of the device events. */
  events(): { id: string; event: string; data: Record<string, unknown>; device_id: string; device_type: string }[];
  closed: Promise<void>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: controller.signal });
  if (!res.ok || !res.body) throw new Error(`SSE ${url} answered ${res.status}: ${await res.text()}`);
  const messages: SseMessage[] = [];
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const closed = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const message: SseMessage = { event: 'message', data: '' };
          let hasData = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') message.event = value;
            else if (field === 'id') message.id = value;
            else if (field === 'data') {
              message.data += (hasData ? '\n' : '') + value;
              hasData = true;
            }
          }
          if (hasData) messages.push(message);
        }
      }
    } catch {
      // aborted
    }
  })();
  return {
    messages,
    events: () =>
      messages
        .filter((m) => m.id !== undefined)
        .map((m) => JSON.parse(m.data) as ReturnType<SseStream['events']>[number]),
    closed,
    close: () => controller.abort(),
  };
}
