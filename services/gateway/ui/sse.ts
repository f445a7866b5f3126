/** One server-sent event: its `event:` field (default `message`) and its `data:` lines joined. */
export interface SseMessage {
  event: string;
  data: string;
}

/**
 * Incremental text/event-stream parser (the WHATWG rules we need: fields `event`, `data`,
 * comments, CR/LF/CRLF line ends, a blank line dispatches). Feed it decoded chunks as they arrive;
 * it keeps a partial line until its end comes.
 */
export class SseParser {
  #buffer = '';
  #event = '';
  #data: string[] = [];

  push(chunk: string): SseMessage[] {
    this.#buffer += chunk;
    const messages: SseMessage[] = [];
    let start = 0;
    for (;;) {
      const end = this.#lineEnd(start);
      if (end === -1) break;
      this.#line(this.#buffer.slice(start, end), messages);
      start = end + (this.#buffer[end] === '\r' && this.#buffer[end + 1] === '\n' ? 2 : 1);
    }
    this.#buffer = this.#buffer.slice(start);
    return messages;
  }

  #lineEnd(from: number): number {
    for (let index = from; index < this.#buffer.length; index++) {
      const char = this.#buffer[index];
      if (char === '\n') return index;
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (char === '\r') return index + 1 < this.#buffer.length ? index : -1;
    }
    return -1;
  }

  #line(line: string, messages: SseMessage[]): void {
    if (line === '') {
      if (this.#data.length > 0)
        messages.push({ event: this.#event || 'message', data: this.#data.join('\n') });
      this.#event = '';
      this.#data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.#event = value;
    else if (field === 'data') this.#data.push(value);
  }
}
