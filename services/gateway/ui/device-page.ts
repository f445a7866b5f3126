import type { CostResult, DeviceSummary, LiveEvent, ReadingsResult } from '@wattbus/contracts';
import { BarChart, TimeChart, type SeriesSpec } from './chart.js';
import { toCsv } from './csv.js';
import { announce, download, fileStamp, h } from './dom.js';
import { formatDay, formatEnergy, formatMoney, formatMonth, formatPower } from './format.js';
import type { Page, PageContext } from './page.js';
import {
  lastDays,
  lastMonths,
  rangeWindow,
  RANGES,
  windowOf,
  type ChartWindow,
  type RangeId,
} from './ranges.js';
import { RelaySwitch } from './relay-switch.js';

const POWER: SeriesSpec[] = [{ label: 'Power', unit: 'W', color: '#2b6cb0', scale: 'W', fromZero: true }];
const ELECTRIC: SeriesSpec[] = [
  { label: 'Voltage', unit: 'V', color: '#805ad5', scale: 'V' },
  { label: 'Current', unit: 'A', color: '#dd6b20', scale: 'A', digits: 3 },
];
const FIELDS = ['power_w', 'voltage_v', 'current_a'] as const;

/** The browser's IANA zone, so energy days and months are the viewer's own. */
const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

interface EnergyView {
  box: HTMLElement;
  chart: BarChart;
  table: HTMLTableSectionElement;
  result: CostResult | undefined;
}

/**
 * One device: live power and relay, a power chart over 1 h / 24 h / 7 d / 30 d with zoom (drag
 * a span, or the zoom buttons) that reloads the span at a finer bucket, voltage and current where
 * the device measures them, and energy with cost per day (30 days) and per month (12 months).
 */
export class DevicePage implements Page {
  title: string;
  #context: PageContext;
  #id: string;
  #device: DeviceSummary | undefined;
  #range: RangeId = '1h';
  #window: ChartWindow = rangeWindow(RANGES[0].ms, Date.now());
  #readings: ReadingsResult | undefined;
  #power: TimeChart | undefined;
  #electric: TimeChart | undefined;
  #electricFigure = h('figure', { class: 'chart', hidden: true });
  #daily: EnergyView | undefined;
  #monthly: EnergyView | undefined;
  #livePower = h('p', { class: 'live-power', 'aria-live': 'off' });
  #status = h('span', { class: 'badge' });
  #relay: RelaySwitch | undefined;
  #relayText = h('span', {});
  #windowText = h('p', { class: 'window', 'aria-live': 'polite' });
  #abort = new AbortController();
  #loading: AbortController | undefined;

  constructor(context: PageContext, id: string) {
    this.#context = context;
    this.#id = id;
    this.title = id;
  }

  async start(): Promise<void> {
    const { api, live, root } = this.#context;
    await live.connected();
    this.#device = await api.get<DeviceSummary>(
      `/api/v1/devices/${encodeURIComponent(this.#id)}`,
      {},
      this.#abort.signal,
    );
    const device = this.#device;
    this.title = device.name ?? device.id;
    document.title = `${this.title} · WattBus`;
    if (device.state && this.#context.canControl) {
      this.#relay = new RelaySwitch(api, device.id, this.title);
      this.#relay.set(device.state.on);
    } else if (device.state) {
      this.#relayText.textContent = `Relay ${device.state.on ? 'on' : 'off'}`;
    }
    this.#showStatus();
    this.#showPower(device.reading?.power_w);

    const powerBox = h('div', { class: 'plot', id: 'power-chart' });
    const electricBox = h('div', { class: 'plot', id: 'electric-chart' });
    this.#power = new TimeChart(powerBox, 'Power', POWER, (from, to) => void this.#zoomTo(from, to));
    this.#electric = new TimeChart(
      electricBox,
      'Voltage and current',
      ELECTRIC,
      (from, to) => void this.#zoomTo(from, to),
    );
    this.#electricFigure.append(
      h(
        'figcaption',
        {},
        h('h2', {}, 'Voltage and current'),
        this.#csvButton('voltage and current', () => this.#readingsCsv(['voltage_v', 'current_a'])),
      ),
      electricBox,
    );
    this.#daily = this.#energyView();
    this.#monthly = this.#energyView();

    root.append(
      h('h1', { tabindex: '-1' }, this.title),
      h(
        'div',
        { class: 'device-head' },
        this.#livePower,
        this.#status,
        this.#relay?.element ?? this.#relayText,
        h(
          'p',
          { class: 'meta' },
          [device.id, device.kind, device.location, device.model].filter(Boolean).join(' · '),
        ),
      ),
      h(
        'figure',
        { class: 'chart' },
        h(
          'figcaption',
          {},
          h('h2', {}, 'Power'),
          this.#csvButton('power', () => this.#readingsCsv(['power_w'])),
        ),
        this.#rangeControls(),
        this.#windowText,
        powerBox,
      ),
      this.#electricFigure,
      this.#energyFigure('Energy per day (30 days)', 'daily', this.#daily),
      this.#energyFigure('Energy per month (12 months)', 'monthly', this.#monthly),
    );
    await Promise.all([this.#loadReadings(this.#window), this.#loadEnergy()]);
  }

  stop(): void {
    this.#abort.abort();
    this.#power?.destroy();
    this.#electric?.destroy();
    this.#daily?.chart.destroy();
    this.#monthly?.chart.destroy();
  }

  onReconnect(): void {
    void this.#loadReadings(this.#window);
  }

  onEvent(event: LiveEvent): void {
    if (!this.#device) return;
    if (event.event === 'reading' && event.data.device === this.#id && event.data.phase === undefined) {
      this.#showPower(event.data.power_w);
    } else if (event.event === 'state' && event.data.device === this.#id) {
      this.#device.state = event.data.state;
      this.#relay?.set(event.data.state.on);
      if (!this.#relay) this.#relayText.textContent = `Relay ${event.data.state.on ? 'on' : 'off'}`;
    } else if (event.event === 'availability' && event.data.device === this.#id) {
      this.#device.availability = event.data.availability;
      this.#showStatus();
    }
  }

  #showPower(watts: number | undefined): void {
    this.#livePower.textContent = formatPower(watts);
    this.#livePower.dataset.value = watts === undefined ? '' : String(watts);
  }

  #showStatus(): void {
    const availability = this.#device?.availability ?? 'unknown';
    this.#status.textContent = availability;
    this.#status.className = `badge ${availability}`;
  }

  #rangeControls(): HTMLElement {
    const group = h('fieldset', { class: 'ranges' }, h('legend', {}, 'Range'));
    for (const range of RANGES) {
      const input = h('input', {
        type: 'radio',
        name: 'range',
        value: range.id,
        id: `range-${range.id}`,
        checked: range.id === this.#range,
        onchange: () => {
          this.#range = range.id;
          void this.#loadReadings(rangeWindow(range.ms, Date.now()));
        },
      });
      group.append(
        h('span', { class: 'range' }, input, h('label', { for: `range-${range.id}` }, range.label)),
      );
    }
    const zoom = (factor: number) => {
      const middle = (this.#window.from + this.#window.to) / 2;
      const half = ((this.#window.to - this.#window.from) * factor) / 2;
      void this.#zoomTo(middle - half, middle + half);
    };
    group.append(
      h('button', { type: 'button', onclick: () => zoom(0.5) }, 'Zoom in'),
      h('button', { type: 'button', onclick: () => zoom(2) }, 'Zoom out'),
      h(
        'button',
        {
          type: 'button',
          onclick: () => void this.#loadReadings(rangeWindow(this.#rangeMs(), Date.now())),
        },
        'Reset zoom',
      ),
    );
    return group;
  }

  #rangeMs(): number {
    return RANGES.find((range) => range.id === this.#range)!.ms;
  }

  /** A zoomed span, never wider than the chosen range nor reaching past now. */
  async #zoomTo(from: number, to: number): Promise<void> {
    const latest = rangeWindow(this.#rangeMs(), Date.now());
    const span = Math.min(Math.max(to - from, 10_000), this.#rangeMs());
    const end = Math.min(from + span, latest.to);
    await this.#loadReadings(windowOf(Math.max(end - span, latest.from), end));
  }

  async #loadReadings(window: ChartWindow): Promise<void> {
    this.#loading?.abort();
    const loading = new AbortController();
    this.#loading = loading;
    this.#windowText.textContent = 'Loading…';
    try {
      const result = await this.#context.api.get<ReadingsResult>(
        `/api/v1/devices/${encodeURIComponent(this.#id)}/readings`,
        {
          from: new Date(window.from).toISOString(),
          to: new Date(window.to).toISOString(),
          every: window.every,
          fn: 'mean',
          fill: 'null',
          fields: FIELDS,
        },
        AbortSignal.any([this.#abort.signal, loading.signal]),
      );
      this.#window = window;
      this.#readings = result;
      const x = result.points.map((point) => Date.parse(point.ts));
      const column = (field: (typeof FIELDS)[number]) => result.points.map((point) => point[field] ?? null);
      this.#power!.setData(x, [column('power_w')], window.from, window.to);
      const electric = [column('voltage_v'), column('current_a')];
      this.#electricFigure.hidden = electric.every((values) => values.every((value) => value === null));
      if (!this.#electricFigure.hidden) this.#electric!.setData(x, electric, window.from, window.to);
      this.#windowText.textContent = `${new Date(window.from).toLocaleString()} – ${new Date(window.to).toLocaleString()}, mean per ${window.every}`;
    } catch (error) {
      if (loading.signal.aborted || this.#abort.signal.aborted) return;
      this.#windowText.textContent = `Could not load readings: ${(error as Error).message}`;
    }
  }

  async #loadEnergy(): Promise<void> {
    const now = new Date();
    const load = async (view: EnergyView, period: { from: Date; to: Date }, every: '1d' | '1mo') => {
      try {
        view.result = await this.#context.api.get<CostResult>(
          '/api/v1/cost',
          {
            device: this.#id,
            from: period.from.toISOString(),
            to: period.to.toISOString(),
            every,
            tz: TIME_ZONE,
          },
          this.#abort.signal,
        );
        const buckets = view.result.buckets;
        view.chart.setData(
          buckets.map((bucket) => Date.parse(bucket.start)),
          [buckets.map((bucket) => bucket.energy_kwh), buckets.map((bucket) => bucket.cost)],
          Date.parse(view.result.to),
        );
      } catch (error) {
        if (!this.#abort.signal.aborted)
          announce(`Could not load energy: ${(error as Error).message}`, 'error');
      }
    };
    await Promise.all([
      load(this.#daily!, lastDays(30, now), '1d'),
      load(this.#monthly!, lastMonths(12, now), '1mo'),
    ]);
    for (const view of [this.#daily!, this.#monthly!])
      this.#energyTable(view, view === this.#daily ? formatDay : formatMonth);
  }

  #energyView(): EnergyView {
    const box = h('div', { class: 'plot' });
    return {
      box,
      chart: new BarChart(box, 'Energy', [
        { label: 'Energy', unit: 'kWh', color: '#2f855a', scale: 'kWh', digits: 3, fromZero: true },
        { label: 'Cost', unit: '', color: '#b7791f', scale: 'cost', digits: 2, fromZero: true },
      ]),
      table: h('tbody'),
      result: undefined,
    };
  }

  #energyFigure(title: string, id: 'daily' | 'monthly', view: EnergyView): HTMLElement {
    return h(
      'figure',
      { class: 'chart', id: `energy-${id}` },
      h(
        'figcaption',
        {},
        h('h2', {}, title),
        this.#csvButton(`energy ${id}`, () => this.#energyCsv(view, id)),
      ),
      view.box,
      h(
        'details',
        {},
        h('summary', {}, 'Table'),
        h(
          'table',
          { class: 'data' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col' }, id === 'daily' ? 'Day' : 'Month'),
              h('th', { scope: 'col', class: 'num' }, 'Energy'),
              h('th', { scope: 'col', class: 'num' }, 'Cost'),
            ),
          ),
          view.table,
        ),
      ),
    );
  }

  #energyTable(view: EnergyView, label: (iso: string) => string): void {
    const result = view.result;
    if (!result) return;
    view.table.replaceChildren(
      ...result.buckets.map((bucket) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, label(bucket.start)),
          h('td', { class: 'num' }, formatEnergy(bucket.energy_kwh)),
          h('td', { class: 'num' }, formatMoney(bucket.cost, result.currency)),
        ),
      ),
      h(
        'tr',
        { class: 'total' },
        h('th', { scope: 'row' }, 'Total'),
        h('td', { class: 'num' }, formatEnergy(result.total_kwh)),
        h('td', { class: 'num' }, formatMoney(result.total_cost, result.currency)),
      ),
    );
  }

  #csvButton(what: string, make: () => { name: string; text: string } | undefined): HTMLButtonElement {
    return h(
      'button',
      {
        type: 'button',
        class: 'csv',
        'aria-label': `Download ${what} as CSV`,
        onclick: () => {
          const file = make();
          if (file) download(file.name, file.text);
        },
      },
      'CSV',
    );
  }

  /** Exactly the points the chart shows: the loaded window, one row per bucket. */
  #readingsCsv(fields: readonly (typeof FIELDS)[number][]): { name: string; text: string } | undefined {
    const result = this.#readings;
    if (!result) return undefined;
    return {
      name: `${this.#id}-${fields.join('-')}-${fileStamp(this.#window.from)}-${this.#window.every}.csv`,
      text: toCsv(
        ['time', ...fields],
        result.points.map((point) => [point.ts, ...fields.map((field) => point[field] ?? null)]),
      ),
    };
  }

  #energyCsv(view: EnergyView, id: string): { name: string; text: string } | undefined {
    const result = view.result;
    if (!result) return undefined;
    return {
      name: `${this.#id}-energy-${id}-${result.from.slice(0, 10)}.csv`,
      text: toCsv(
        ['start', 'end', 'energy_kwh', `cost_${result.currency.toLowerCase()}`],
        result.buckets.map((bucket) => [bucket.start, bucket.end, bucket.energy_kwh, bucket.cost]),
      ),
    };
  }
}
