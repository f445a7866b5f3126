import { fork } from 'node:child_process';

export interface PublishRun {
  /** performance.now() when the publisher is about to send its first reading. */
  started: Promise<number>;
  /** performance.now() when its last publish was acknowledged by the broker. */
  published: Promise<number>;
  pid: number;
}

/** Starts publisher.ts (its own process) for one run: `count` readings of `devices` meters under `base`. */
export function publish(options: { url: string; base: string; count: number; devices: number }): PublishRun {
  const child = fork(new URL('./publisher.ts', import.meta.url).pathname, [JSON.stringify(options)]);
  let onStart!: (t: number) => void;
  let onPublished!: (t: number) => void;
  const started = new Promise<number>((resolve) => (onStart = resolve));
  const published = new Promise<number>((resolve) => (onPublished = resolve));
  child.on('message', (message) => {
    if (message === 'start') onStart(performance.now());
    if (message === 'published') onPublished(performance.now());
  });
  // Never leave a publisher behind when the bench stops early.
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  child.on('exit', (code) => {
    process.off('exit', kill);
    if (code !== 0) {
      console.error(`publisher exited with ${code}`);
      process.exit(1);
    }
  });
  return { started, published, pid: child.pid! };
}
