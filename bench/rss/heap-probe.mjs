// Preloaded into each service by `bench/rss/soak.ts --heap` (node --expose-gc --import=…):
// once a minute a full GC, then the live heap, appended as one JSON line to $BENCH_HEAP_LOG.
// RSS alone cannot tell a leak from V8 or malloc keeping freed memory; the heap after a GC can.
import { appendFileSync } from 'node:fs';
import process from 'node:process';
import { setInterval } from 'node:timers';
import { getHeapStatistics } from 'node:v8';

const file = process.env.BENCH_HEAP_LOG;
if (file && typeof globalThis.gc === 'function') {
  setInterval(() => {
    globalThis.gc();
    const heap = getHeapStatistics();
    const line = { used_mb: heap.used_heap_size / 1e6, total_mb: heap.total_heap_size / 1e6 };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  }, 60_000).unref();
}
