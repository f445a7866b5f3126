import { readFileSync } from 'node:fs';

/** Memory of one process from /proc, in MB (Linux only). */
export interface ProcessMemory {
  /** Resident set: what `ps` and the targets call RSS (shared pages of the node binary included). */
  rss_mb: number;
  /** Highest RSS so far. */
  hwm_mb: number;
  /** Anonymous resident memory: heaps, stacks; this process's own. */
  anon_mb: number;
  /** Proportional set size: shared pages divided among the processes that map them. */
  pss_mb: number;
}

const MB = 1024;
const statusKb = (status: string, key: string) =>
  Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);

export function memoryOf(pid: number): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const round = (kb: number) => Math.round((kb / MB) * 10) / 10;
  return {
    rss_mb: round(statusKb(status, 'VmRSS')),
    hwm_mb: round(statusKb(status, 'VmHWM')),
    anon_mb: round(statusKb(status, 'RssAnon')),
    pss_mb: round(statusKb(rollup, 'Pss')),
  };
}

/** User + system CPU seconds the process has used (its threads included, children not). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
  return ticks / 100; // USER_HZ is 100 on Linux
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
