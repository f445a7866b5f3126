/** A one-line progress bar on a terminal; nothing at all when the stream is a pipe or a file. */
export class ProgressBar {
  #stream: NodeJS.WriteStream;
  #lastDrawMs = 0;
  #drawn = false;

  constructor(stream: NodeJS.WriteStream) {
    this.#stream = stream;
  }

  update(done: number, total: number, label: string): void {
    if (!this.#stream.isTTY) return;
    const now = Date.now();
    if (now - this.#lastDrawMs < 200 && done < total) return;
    this.#lastDrawMs = now;
    const width = 30;
    const ratio = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(ratio * width);
    const bar = `[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}%`;
    const line = `${bar} ${done.toLocaleString('en')}/${total.toLocaleString('en')} points ${label}`;
    this.#stream.write(`\r${line.slice(0, (this.#stream.columns || 100) - 1)}\x1b[K`);
    this.#drawn = true;
  }

  /** A count without a known total (a backup does not know its size before it is done). */
  count(done: number, label: string): void {
    if (!this.#stream.isTTY) return;
    const now = Date.now();
    if (now - this.#lastDrawMs < 200) return;
    this.#lastDrawMs = now;
    this.#stream.write(`\r${done.toLocaleString('en')} points ${label}\x1b[K`);
    this.#drawn = true;
  }

  /** Clears the bar so the summary starts on a clean line. */
  done(): void {
    if (this.#drawn) this.#stream.write('\r\x1b[K');
    this.#drawn = false;
  }
}
