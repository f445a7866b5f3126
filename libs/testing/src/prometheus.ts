import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalServer } from './local-server.js';
import { requireBinary, waitUntil } from './process.js';

export interface ScrapeJob {
  job: string;
  /** `host:port` of each target. */
  targets: string[];
  /** Default `/metrics`. */
  metricsPath?: string;
}

export interface PrometheusOptions {
  jobs: ScrapeJob[];
  /** How often every target is scraped; default 1 s, so a test waits little for a scrape. */
  scrapeIntervalMs?: number;
}

/** One series of an instant vector from `/api/v1/query`. */
export interface PrometheusSample {
  metric: Record<string, string>;
  value: number;
}

export interface PrometheusTarget {
  labels: Record<string, string>;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
  lastScrape: string;
}

/**
 * A real Prometheus (Debian package `prometheus`) on a free loopback port with a throw-away
 * config and TSDB, behind the harness's watchdog. Ready once `/-/ready` answers 200.
 */
export class PrometheusServer extends LocalServer {
  readonly #options: PrometheusOptions;

  constructor(options: PrometheusOptions) {
    super('prometheus', 'prometheus', 'wattbus-prometheus-');
    this.#options = options;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  protected configure(port: number): string[] {
    const config = join(this.dir, 'prometheus.yml');
    writeFileSync(config, scrapeConfig(this.#options));
    return [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(this.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ];
  }

  /** Prometheus opens its port before it can answer queries; `/-/ready` says when it can. */
  protected override async ready(): Promise<boolean> {
    try {
      return (await fetch(`${this.url}/-/ready`)).status === 200;
    } catch {
      return false;
    }
  }

  /** The scrape targets and how their last scrape went. */
  async targets(): Promise<PrometheusTarget[]> {
    const body = (await this.#api('/api/v1/targets?state=active')) as { activeTargets: PrometheusTarget[] };
    return body.activeTargets;
  }

  /** Resolves once every target of `job` was scraped successfully at least once. */
  async scraped(job: string, timeoutMs = 30_000): Promise<void> {
    let last: PrometheusTarget[] = [];
    await waitUntil(
      `a successful scrape of job ${job}`,
      async () => {
        last = (await this.targets()).filter((target) => target.labels.job === job);
        return last.length > 0 && last.every((target) => target.health === 'up');
      },
      { timeoutMs, intervalMs: 100, diagnostics: () => JSON.stringify(last) },
    );
  }

  /** An instant query (`/api/v1/query`); values as numbers. */
  async query(promql: string): Promise<PrometheusSample[]> {
    const body = (await this.#api(`/api/v1/query?query=${encodeURIComponent(promql)}`)) as {
      resultType: string;
      result: Array<{ metric: Record<string, string>; value: [number, string] }>;
    };
    if (body.resultType !== 'vector') throw new Error(`${promql} gave a ${body.resultType}, not a vector`);
    return body.result.map((series) => ({ metric: series.metric, value: Number(series.value[1]) }));
  }

  /** Polls `promql` until `accept` likes the answer (a scrape is an event in another process). */
  async queryUntil(
    promql: string,
    accept: (samples: PrometheusSample[]) => boolean,
    timeoutMs = 30_000,
  ): Promise<PrometheusSample[]> {
    let samples: PrometheusSample[] = [];
    await waitUntil(
      `an answer to ${promql}`,
      async () => {
        samples = await this.query(promql);
        return accept(samples);
      },
      { timeoutMs, intervalMs: 100, diagnostics: () => `last answer: ${JSON.stringify(samples)}` },
    );
    return samples;
  }

  async #api(path: string): Promise<unknown> {
    const response = await fetch(`${this.url}${path}`);
    const body = (await response.json()) as { status: string; data: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  }
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  return new PrometheusServer(options).start();
}

function scrapeConfig(options: PrometheusOptions): string {
  const interval = `${options.scrapeIntervalMs ?? 1000}ms`;
  const jobs = options.jobs.map((job) =>
    [
      `  - job_name: ${JSON.stringify(job.job)}`,
      `    metrics_path: ${JSON.stringify(job.metricsPath ?? '/metrics')}`,
      '    static_configs:',
      `      - targets: ${JSON.stringify(job.targets)}`,
    ].join('\n'),
  );
  return [
    'global:',
    `  scrape_interval: ${interval}`,
    `  scrape_timeout: ${interval}`,
    'scrape_configs:',
    ...jobs,
    '',
  ].join('\n');
}

/** `promtool check metrics` on an exposition: the linter's findings, empty when it passes. */
export function checkMetrics(exposition: string): { ok: boolean; problems: string } {
  const promtool = requireBinary('promtool', 'prometheus');
  const result = spawnSync(promtool, ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  const problems = `${result.stdout}${result.stderr}`.trim();
  return { ok: result.status === 0 && problems === '', problems };
}

/** One sample line of a text exposition. */
export interface ExposedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The sample lines of a Prometheus text exposition (comments skipped; labels unescaped). */
export function parseExposition(text: string): ExposedSample[] {
  const samples: ExposedSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[name!] = value!.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]!.replace(/Inf$/, 'Infinity')) });
  }
  return samples;
}

/** The samples of `name` whose labels include `labels`. */
export function samplesOf(text: string, name: string, labels: Record<string, string> = {}): ExposedSample[] {
  return parseExposition(text).filter(
    (sample) =>
      sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
  );
}

/** The value of the one sample of `name` with `labels`; undefined if there is none, an error if several. */
export function valueOf(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samplesOf(text, name, labels);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
