import type { Readable } from 'node:stream';

export interface SseMessage {
  readonly event: string;
  readonly id?: string;
  readonly data: string;
}

/**
 * Collects a text/event-stream as it arrives and parses it per the SSE rules the page's
 * EventSource applies, so tests can wait for specific messages.
 */
export class SseReader {
  text = '';
  private waiters: (() => void)[] = [];
  private ended = false;

  constructor(stream: Readable) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.text += chunk;
      this.wake();
    });
    const end = (): void => {
      this.ended = true;
      this.wake();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Complete messages so far (comments and `retry:` lines are not messages). */
  messages(): SseMessage[] {
    const blocks = this.text.split('\n\n');
    blocks.pop(); // incomplete tail
    const out: SseMessage[] = [];
    for (const block of blocks) {
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      if (data.length > 0) out.push({ event, ...(id === undefined ? {} : { id }), data: data.join('\n') });
    }
    return out;
  }

  comments(): string[] {
    return this.text.split('\n').filter((l) => l.startsWith(':'));
  }

  /** Resolves once `predicate` holds, rejects after `timeoutMs` with what arrived. */
  async until(predicate: (r: SseReader) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      if (Date.now() > deadline)
        throw new Error(`SSE condition not met within ${timeoutMs} ms; received:\n${this.text.slice(-2000)}`);
      if (this.ended)
        throw new Error(`SSE stream ended before the condition held; received:\n${this.text.slice(-2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
