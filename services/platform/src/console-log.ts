/**
 * The calm console of `npm start`: the banner, then one short line per notable event (a device
 * online or offline, a write failure, an alert, a changed devices file), while every log line
 * goes to the JSON log files. It reads the JSON lines pino writes to it; lines come out only
 * after open() (so the banner is first), and a line that repeats (InfluxDB down: a failed write
 * every few seconds) is shown once a minute with how often it came.
 */

/** Info lines worth a console line; every warning and error is one too. */
const NOTABLE_INFO = new Set([
  'device online',
  'device registry updated',
  'alert resolved',
  'InfluxDB writes succeed again',
]);

const REPEAT_WINDOW_MS = 60_000;

interface LogRecord {
  level: number;
  time: number;
  msg?: string;
  part?: string;
  device?: string;
  rule?: string;
  subject?: string;
  severity?: string;
  message?: string;
  code?: string;
  err?: string | { message?: string };
  added?: string[];
  removed?: string[];
  changed?: string[];
  failed?: { id: string; error: string }[];
}

export class ConsoleLog {
  #out: (text: string) => void;
  #clock: () => number;
  #held: string[] | undefined = [];
  #recent = new Map<string, { at: number; suppressed: number }>();

  constructor(deps: { out: (text: string) => void; clock?: () => number }) {
    this.#out = deps.out;
    this.#clock = deps.clock ?? Date.now;
  }

  /** pino's destination interface: one JSON log line per call. */
  write(line: string): void {
    let record: LogRecord;
    try {
      record = JSON.parse(line) as LogRecord;
    } catch {
      return;
    }
    const text = this.#lineOf(record);
    if (text === undefined) return;
    if (this.#held) this.#held.push(text);
    else this.#out(`${text}\n`);
  }

  /** Lets lines out (the ones held so far first). */
  open(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const text of held) this.#out(`${text}\n`);
  }

  #lineOf(record: LogRecord): string | undefined {
    if (record.level < 40 && !NOTABLE_INFO.has(record.msg ?? '')) return undefined;
    const key = [record.part, record.msg, record.device, record.rule, record.subject].join('|');
    const now = this.#clock();
    const recent = this.#recent.get(key);
    if (recent && now - recent.at < REPEAT_WINDOW_MS) {
      recent.suppressed++;
      return undefined;
    }
    this.#recent.set(key, { at: now, suppressed: 0 });
    const repeated = recent && recent.suppressed > 0 ? ` (${recent.suppressed} more like it before)` : '';
    return `${clockTime(record.time)}  ${describe(record)}${repeated}`;
  }
}

function describe(record: LogRecord): string {
  const error = typeof record.err === 'string' ? record.err : record.err?.message;
  switch (record.msg) {
    case 'device online':
      return `${record.device} online`;
    case 'device offline':
      return `${record.device} offline${record.code ? ` (${record.code}: ${error})` : ''}`;
    case 'alert raised':
      return `alert ${record.rule} on ${record.subject} (${record.severity}): ${record.message}`;
    case 'alert resolved':
      return `alert ${record.rule} on ${record.subject} resolved`;
    case 'device registry updated':
      return `devices file applied: ${changes(record)}`;
    default: {
      const level = record.level >= 50 ? 'error' : record.level >= 40 ? 'warning' : 'info';
      const about = record.device ? ` ${record.device}:` : '';
      return `${level} [${record.part ?? 'platform'}]${about} ${record.msg}${error ? ` (${error})` : ''}`;
    }
  }
}

function changes(record: LogRecord): string {
  const parts = [
    ...(record.added?.length ? [`added ${record.added.join(', ')}`] : []),
    ...(record.changed?.length ? [`changed ${record.changed.join(', ')}`] : []),
    ...(record.removed?.length ? [`removed ${record.removed.join(', ')}`] : []),
    ...(record.failed ?? []).map((failure) => `${failure.id} not started: ${failure.error}`),
  ];
  return parts.join('; ') || 'no device changed';
}

function clockTime(epochMs: number): string {
  return new Date(epochMs).toTimeString().slice(0, 8);
}
