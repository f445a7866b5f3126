import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ProgramOptions {
  args?: string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
  cwd?: string;
  /** Flags for node itself (e.g. `--max-semi-space-size=2`), before the entry point. */
  nodeFlags?: string[];
  /** Text written to its stdin (then closed); default: stdin closed at once. */
  stdin?: string;
  /**
   * SIGKILL after this long, so a program that hangs fails its test instead of holding the run;
   * `exited` then says `signal: 'SIGKILL'`. Default 120 s.
   */
  killAfterMs?: number;
}

export interface ProgramExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A WattBus program running as a child process, its output collected: `services/x/src/main.ts`
 * (through tsx) or its production build `services/x/dist/main.js` (plain node).
 */
export interface ProgramRun {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Its stdout lines parsed as JSON log lines (other lines as `{ text }`). */
  readonly lines: Record<string, unknown>[];
  /** Resolves once it exited and its output is read. */
  readonly exited: Promise<ProgramExit>;
  /** The first log line with this `msg` (earlier or later); rejects if the program exits first. */
  logLine(msg: string): Promise<Record<string, unknown>>;
  /** Sends a signal (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<ProgramExit>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Runs a TypeScript entry point with `node --import tsx`, or a built `.js` one as production
 * does (`node --enable-source-maps`, no tsx).
 */
export function runProgram(main: string, options: ProgramOptions = {}): ProgramRun {
  const runner = main.endsWith('.ts') ? ['--import', 'tsx'] : ['--enable-source-maps'];
  const flags = [...runner, ...(options.nodeFlags ?? [])];
  const child = spawn(process.execPath, [...flags, main, ...(options.args ?? [])], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  child.stdin!.end(options.stdin ?? '');
  let stdout = '';
  let stderr = '';
  const lines: Record<string, unknown>[] = [];
  const waiters: Array<{ msg: string; resolve: (line: Record<string, unknown>) => void }> = [];
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const reader = createInterface({ input: child.stdout! });
  reader.on('line', (text) => {
    stdout += `${text}\n`;
    let line: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(text);
      line = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : { text };
    } catch {
      line = { text };
    }
    lines.push(line);
    for (const waiter of waiters.filter((candidate) => candidate.msg === line.msg)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 120_000);
  const exited = new Promise<ProgramExit>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return {
    child,
    lines,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    logLine(msg) {
      const earlier = lines.find((line) => line.msg === msg);
      if (earlier) return Promise.resolve(earlier);
      return Promise.race([
        new Promise<Record<string, unknown>>((resolve) => waiters.push({ msg, resolve })),
        exited.then(({ code, signal }) => {
          throw new Error(`${main} exited (${code ?? signal}) before logging '${msg}':\n${stderr}`);
        }),
      ]);
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
