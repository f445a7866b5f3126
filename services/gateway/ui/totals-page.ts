import type { TotalsResult } from '@wattbus/contracts';
import { toCsv } from './csv.js';
import { download, h } from './dom.js';
import { formatEnergy, formatMoney } from './format.js';
import type { Page, PageContext } from './page.js';

type Grouping = 'location' | 'kind';

/** Named periods in local time; `custom` takes the two date inputs. */
const PERIODS = {
  today: 'Today',
  week: 'Last 7 days',
  month: 'This month',
  'last-month': 'Last month',
  '30d': 'Last 30 days',
  year: 'This year',
  custom: 'Custom',
} as const;
type PeriodId = keyof typeof PERIODS;

function periodOf(id: PeriodId, now: Date, custom: { from: string; to: string }): { from: Date; to: Date } {
  const day = (offset: number) => new Date(now.getFullYear(), now.getMonth(), now.getDate() + offset);
  switch (id) {
    case 'today':
      return { from: day(0), to: day(1) };
    case 'week':
      return { from: day(-6), to: day(1) };
    case '30d':
      return { from: day(-29), to: day(1) };
    case 'month':
      return { from: new Date(now.getFullYear(), now.getMonth(), 1), to: day(1) };
    case 'last-month':
      return {
        from: new Date(now.getFullYear(), now.getMonth() - 1, 1),
        to: new Date(now.getFullYear(), now.getMonth(), 1),
      };
    case 'year':
      return { from: new Date(now.getFullYear(), 0, 1), to: day(1) };
    case 'custom': {
      // <input type=date> gives yyyy-mm-dd; the end day is included.
      const [fy, fm, fd] = custom.from.split('-').map(Number);
      const [ty, tm, td] = custom.to.split('-').map(Number);
      return { from: new Date(fy!, fm! - 1, fd!), to: new Date(ty!, tm! - 1, td! + 1) };
    }
  }
}

const isoDate = (date: Date) =>
  `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;

/** Energy and cost for a period, by location (at a chosen depth) and by kind. */
export class TotalsPage implements Page {
  readonly title = 'Totals';
  #context: PageContext;
  #period = h('select', { id: 'totals-period' });
  #from = h('input', { type: 'date', id: 'totals-from' });
  #to = h('input', { type: 'date', id: 'totals-to' });
  #depth = h('select', { id: 'totals-depth' });
  #sections = new Map<
    Grouping,
    { body: HTMLTableSectionElement; status: HTMLElement; result?: TotalsResult }
  >();
  #abort = new AbortController();
  #loading: AbortController | undefined;

  constructor(context: PageContext) {
    this.#context = context;
  }

  async start(): Promise<void> {
    for (const [value, label] of Object.entries(PERIODS)) this.#period.append(h('option', { value }, label));
    this.#period.value = 'month';
    for (const depth of [1, 2, 3, 4]) this.#depth.append(h('option', { value: depth }, `${depth}`));
    this.#depth.value = '2';
    const now = new Date();
    this.#from.value = isoDate(new Date(now.getFullYear(), now.getMonth(), 1));
    this.#to.value = isoDate(now);
    const customFields = h(
      'span',
      { class: 'custom', hidden: true },
      h('label', {}, 'From ', this.#from),
      h('label', {}, 'To ', this.#to),
    );
    this.#period.addEventListener('change', () => {
      customFields.hidden = this.#period.value !== 'custom';
      if (customFields.hidden) void this.#load();
    });
    this.#depth.addEventListener('change', () => void this.#load(['location']));
    this.#context.root.append(
      h('h1', { tabindex: '-1' }, 'Totals'),
      h(
        'form',
        {
          class: 'controls',
          'aria-label': 'What to total',
          onsubmit: (event) => {
            event.preventDefault();
            void this.#load();
          },
        },
        h('label', {}, 'Period ', this.#period),
        customFields,
        h('label', {}, 'Location levels ', this.#depth),
        h('button', { type: 'submit' }, 'Show'),
      ),
      this.#section('location', 'By location'),
      this.#section('kind', 'By kind'),
    );
    await this.#load();
  }

  stop(): void {
    this.#abort.abort();
  }

  #section(grouping: Grouping, title: string): HTMLElement {
    const body = h('tbody');
    const status = h('p', { class: 'status', 'aria-live': 'polite' });
    this.#sections.set(grouping, { body, status });
    return h(
      'section',
      { class: 'totals', id: `totals-${grouping}`, 'aria-labelledby': `totals-${grouping}-title` },
      h(
        'div',
        { class: 'section-head' },
        h('h2', { id: `totals-${grouping}-title` }, title),
        h(
          'button',
          {
            type: 'button',
            class: 'csv',
            'aria-label': `Download ${title.toLowerCase()} as CSV`,
            onclick: () => this.#csv(grouping),
          },
          'CSV',
        ),
      ),
      status,
      h(
        'table',
        { class: 'data' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, grouping === 'kind' ? 'Kind' : 'Location'),
            h('th', { scope: 'col', class: 'num' }, 'Devices'),
            h('th', { scope: 'col', class: 'num' }, 'Energy'),
            h('th', { scope: 'col', class: 'num' }, 'Cost'),
            h('th', { scope: 'col', class: 'wide' }, 'Share'),
          ),
        ),
        body,
      ),
    );
  }

  async #load(groupings: Grouping[] = ['location', 'kind']): Promise<void> {
    this.#loading?.abort();
    const loading = new AbortController();
    this.#loading = loading;
    const period = periodOf(this.#period.value as PeriodId, new Date(), {
      from: this.#from.value,
      to: this.#to.value,
    });
    await Promise.all(
      groupings.map(async (grouping) => {
        const section = this.#sections.get(grouping)!;
        section.status.textContent = 'Loading…';
        try {
          const result = await this.#context.api.get<TotalsResult>(
            '/api/v1/energy/totals',
            {
              from: period.from.toISOString(),
              to: period.to.toISOString(),
              group_by: grouping,
              depth: grouping === 'location' ? this.#depth.value : undefined,
            },
            AbortSignal.any([this.#abort.signal, loading.signal]),
          );
          section.result = result;
          this.#show(section.body, result);
          section.status.textContent = `${period.from.toLocaleDateString()} – ${new Date(period.to.getTime() - 1).toLocaleDateString()}: ${formatEnergy(result.total_kwh)}, ${formatMoney(result.total_cost, result.currency)}`;
        } catch (error) {
          if (!loading.signal.aborted && !this.#abort.signal.aborted)
            section.status.textContent = `Could not load totals: ${(error as Error).message}`;
        }
      }),
    );
  }

  #show(body: HTMLTableSectionElement, result: TotalsResult): void {
    const largest = Math.max(...result.groups.map((group) => group.energy_kwh), 0);
    const groups = [...result.groups].sort((a, b) => b.energy_kwh - a.energy_kwh);
    body.replaceChildren(
      ...groups.map((group) => {
        const bar = h('span', { class: 'bar', 'aria-hidden': 'true' });
        bar.style.width = `${largest > 0 ? (100 * group.energy_kwh) / largest : 0}%`;
        const share = result.total_kwh > 0 ? Math.round((100 * group.energy_kwh) / result.total_kwh) : 0;
        return h(
          'tr',
          { 'data-key': group.key },
          h('th', { scope: 'row' }, group.key),
          h('td', { class: 'num' }, group.devices.length),
          h('td', { class: 'num', 'data-value': group.energy_kwh }, formatEnergy(group.energy_kwh)),
          h('td', { class: 'num' }, formatMoney(group.cost, result.currency)),
          h(
            'td',
            { class: 'wide' },
            h(
              'span',
              { class: 'share-box' },
              h('span', { class: 'bar-track' }, bar),
              h('span', { class: 'share-text' }, `${share} %`),
            ),
          ),
        );
      }),
      h(
        'tr',
        { class: 'total' },
        h('th', { scope: 'row' }, 'Total'),
        h(
          'td',
          { class: 'num' },
          result.groups.reduce((sum, group) => sum + group.devices.length, 0),
        ),
        h('td', { class: 'num' }, formatEnergy(result.total_kwh)),
        h('td', { class: 'num' }, formatMoney(result.total_cost, result.currency)),
        h('td', { class: 'wide' }),
      ),
    );
  }

  #csv(grouping: Grouping): void {
    const result = this.#sections.get(grouping)?.result;
    if (!result) return;
    download(
      `totals-by-${grouping}-${result.from.slice(0, 10)}-${result.to.slice(0, 10)}.csv`,
      toCsv(
        [grouping, 'devices', 'energy_kwh', `cost_${result.currency.toLowerCase()}`],
        result.groups.map((group) => [group.key, group.devices.length, group.energy_kwh, group.cost]),
      ),
    );
  }
}
