import type { DeviceSummary, DevicesResult, LiveEvent, Reading } from '@wattbus/contracts';
import { announce, h } from './dom.js';
import { formatPower } from './format.js';
import type { Page, PageContext } from './page.js';
import { RelaySwitch } from './relay-switch.js';

type Grouping = 'none' | 'location' | 'kind';

interface Row {
  device: DeviceSummary;
  tr: HTMLTableRowElement;
  power: HTMLTableCellElement;
  status: HTMLElement;
  relayCell: HTMLTableCellElement;
  relay: RelaySwitch | undefined;
  group: Group | undefined;
}

interface Group {
  key: string;
  rows: Row[];
  /** The group's box: the browser skips laying out and painting it while it is off screen. */
  box: HTMLElement;
  table: HTMLTableElement;
  caption: HTMLElement;
}

/** Location prefixes offered in the filter, down to this many levels. */
const FILTER_DEPTH = 3;

/**
 * Every device with its live power, online/offline, and a relay switch where it has one; grouped
 * by location or kind and filtered by text, kind and location prefix. Live readings are applied
 * once per animation frame, only to the cells that change (a 1,000-device fleet at 1 Hz is
 * 1,000 text updates per second, see bench/dashboard). User Timing marks `fleet-rendered` and
 * measures `fleet-update` make that cost visible in the browser's performance tools.
 */
export class FleetPage implements Page {
  readonly title = 'Fleet';
  #context: PageContext;
  #rows = new Map<string, Row>();
  #groups: Group[] = [];
  #pending = new Map<string, Reading>();
  #frame = 0;
  #rerender: ReturnType<typeof setTimeout> | undefined;
  #list = h('div', { class: 'groups' });
  #summary = h('p', { class: 'summary' });
  #search = h('input', {
    type: 'search',
    id: 'fleet-search',
    placeholder: 'name or id',
    autocomplete: 'off',
  });
  #kind = h('select', { id: 'fleet-kind' });
  #location = h('select', { id: 'fleet-location' });
  #grouping = h('select', { id: 'fleet-group' });
  #depth = h('select', { id: 'fleet-depth' });
  #abort = new AbortController();

  constructor(context: PageContext) {
    this.#context = context;
  }

  async start(): Promise<void> {
    const { root, api, live } = this.#context;
    for (const [value, label] of [
      ['location', 'Location'],
      ['kind', 'Kind'],
      ['none', 'Nothing'],
    ]) {
      this.#grouping.append(h('option', { value }, label));
    }
    for (const depth of [1, 2, 3, 4]) this.#depth.append(h('option', { value: depth }, `${depth}`));
    this.#depth.value = '2';
    const refilter = () => this.#applyFilter();
    let typing: ReturnType<typeof setTimeout> | undefined;
    this.#search.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(refilter, 120);
    });
    this.#kind.addEventListener('change', refilter);
    this.#location.addEventListener('change', refilter);
    this.#grouping.addEventListener('change', () => this.#render());
    this.#depth.addEventListener('change', () => this.#render());
    const depthLabel = h('label', { class: 'depth' }, 'Levels ', this.#depth);
    this.#grouping.addEventListener(
      'change',
      () => (depthLabel.hidden = this.#grouping.value !== 'location'),
    );
    root.append(
      h('h1', { tabindex: '-1' }, 'Fleet'),
      h(
        'form',
        {
          class: 'controls',
          role: 'search',
          'aria-label': 'Filter devices',
          onsubmit: (event) => event.preventDefault(),
        },
        h('label', {}, 'Search ', this.#search),
        h('label', {}, 'Kind ', this.#kind),
        h('label', {}, 'Location ', this.#location),
        h('label', {}, 'Group by ', this.#grouping),
        depthLabel,
      ),
      this.#summary,
      this.#list,
    );
    this.#summary.textContent = 'Loading devices…';
    // Subscribed first, then the current state: no change can fall between the two.
    await live.connected();
    const result = await api.get<DevicesResult>('/api/v1/devices', {}, this.#abort.signal);
    this.#load(result.devices);
  }

  stop(): void {
    this.#abort.abort();
    cancelAnimationFrame(this.#frame);
    clearTimeout(this.#rerender);
  }

  onReconnect(): void {
    void this.#context.api
      .get<DevicesResult>('/api/v1/devices', {}, this.#abort.signal)
      .then((result) => this.#load(result.devices))
      .catch((error: Error) => announce(`Could not reload the fleet: ${error.message}`, 'error'));
  }

  onEvent(event: LiveEvent): void {
    switch (event.event) {
      case 'reading': {
        // Per-phase readings of a 3-phase meter come with its total; the fleet shows the total.
        if (event.data.phase !== undefined || !this.#rows.has(event.data.device)) return;
        this.#pending.set(event.data.device, event.data);
        this.#frame ||= requestAnimationFrame(() => this.#flush());
        return;
      }
      case 'state': {
        const row = this.#rows.get(event.data.device);
        if (!row) return;
        row.device.state = event.data.state;
        this.#relay(row);
        return;
      }
      case 'availability': {
        const row = this.#rows.get(event.data.device);
        if (!row) return;
        row.device.availability = event.data.availability;
        this.#status(row);
        this.#summarise();
        return;
      }
      case 'meta': {
        const { device, meta } = event.data;
        const known = this.#rows.get(device)?.device;
        if (meta === null) {
          if (known) this.#rows.delete(device);
        } else {
          const summary: DeviceSummary = known ?? {
            id: device,
            availability: 'unknown',
            state: null,
            reading: null,
          };
          Object.assign(summary, {
            name: meta.name,
            type: meta.type,
            kind: meta.kind,
            location: meta.location,
            model: meta.model,
            poll_interval_ms: meta.poll_interval_ms,
          });
          if (!known) this.#rows.set(device, this.#row(summary));
        }
        clearTimeout(this.#rerender);
        this.#rerender = setTimeout(() => this.#render(), 500);
        return;
      }
      default:
    }
  }

  #load(devices: DeviceSummary[]): void {
    this.#rows = new Map(devices.map((device) => [device.id, this.#row(device)]));
    this.#render();
    performance.mark('fleet-rendered', { detail: { devices: devices.length } });
    // After the next paint: what a user sees first.
    requestAnimationFrame(() => setTimeout(() => performance.mark('fleet-painted'), 0));
  }

  #row(device: DeviceSummary): Row {
    const power = h('td', { class: 'power num' });
    const status = h('span', { class: 'badge' });
    const relayCell = h('td', { class: 'relay-cell' });
    const tr = h(
      'tr',
      { 'data-device': device.id },
      h(
        'th',
        { scope: 'row' },
        h('a', { href: `#/devices/${encodeURIComponent(device.id)}` }, device.name ?? device.id),
        h('span', { class: 'id' }, device.id),
      ),
      power,
      h('td', {}, status),
      relayCell,
      h('td', { class: 'wide' }, device.location ?? ''),
      h('td', { class: 'wide' }, device.kind ?? ''),
    );
    const row: Row = { device, tr, power, status, relayCell, relay: undefined, group: undefined };
    this.#power(row, device.reading);
    this.#status(row);
    this.#relay(row);
    return row;
  }

  #power(row: Row, reading: Reading | null): void {
    row.device.reading = reading;
    row.power.textContent = formatPower(reading?.power_w);
    row.power.dataset.value = reading ? String(reading.power_w) : '';
    row.power.dataset.ts = reading?.ts ?? '';
  }

  #status(row: Row): void {
    const availability = row.device.availability;
    row.status.textContent = availability;
    row.status.className = `badge ${availability}`;
    row.tr.classList.toggle('offline', availability === 'offline');
  }

  #relay(row: Row): void {
    const state = row.device.state;
    if (!state) {
      row.relayCell.textContent = '–';
      return;
    }
    if (!this.#context.canControl) {
      // A read-only key sees the state as text: nothing to press.
      row.relayCell.textContent = state.on ? 'On' : 'Off';
      return;
    }
    if (!row.relay) {
      row.relay = new RelaySwitch(this.#context.api, row.device.id, row.device.name ?? row.device.id);
      row.relayCell.replaceChildren(row.relay.element);
    }
    row.relay.set(state.on);
  }

  #flush(): void {
    this.#frame = 0;
    const started = performance.now();
    const touched = new Set<Group>();
    for (const [id, reading] of this.#pending) {
      const row = this.#rows.get(id);
      if (!row) continue;
      this.#power(row, reading);
      if (row.group) touched.add(row.group);
    }
    const count = this.#pending.size;
    this.#pending.clear();
    for (const group of touched) this.#caption(group);
    performance.measure('fleet-update', { start: started, detail: { readings: count } });
  }

  #groupKey(device: DeviceSummary, grouping: Grouping): string {
    if (grouping === 'kind') return device.kind ?? '(no kind)';
    if (grouping === 'location') {
      const levels = (device.location ?? '(no location)').split('/');
      return levels.slice(0, Number(this.#depth.value)).join('/');
    }
    return 'All devices';
  }

  #render(): void {
    const grouping = this.#grouping.value as Grouping;
    const rows = [...this.#rows.values()].sort(
      (a, b) =>
        (a.device.location ?? '').localeCompare(b.device.location ?? '') ||
        (a.device.name ?? a.device.id).localeCompare(b.device.name ?? b.device.id),
    );
    const groups = new Map<string, Group>();
    for (const row of rows) {
      const key = this.#groupKey(row.device, grouping);
      let group = groups.get(key);
      if (!group) {
        const caption = h('caption', {});
        const table = h(
          'table',
          { class: 'fleet' },
          caption,
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col' }, 'Device'),
              h('th', { scope: 'col', class: 'num' }, 'Power'),
              h('th', { scope: 'col' }, 'Status'),
              h('th', { scope: 'col' }, 'Relay'),
              h('th', { scope: 'col', class: 'wide' }, 'Location'),
              h('th', { scope: 'col', class: 'wide' }, 'Kind'),
            ),
          ),
          h('tbody'),
        );
        group = { key, rows: [], box: h('div', { class: 'group' }, table), table, caption };
        groups.set(key, group);
      }
      group.rows.push(row);
      row.group = group;
    }
    this.#groups = [...groups.values()].sort((a, b) => a.key.localeCompare(b.key));
    const fragment = document.createDocumentFragment();
    for (const group of this.#groups) {
      group.table.tBodies[0]!.append(...group.rows.map((row) => row.tr));
      fragment.append(group.box);
    }
    this.#list.replaceChildren(fragment);
    this.#options();
    this.#applyFilter();
  }

  /** Kind and location choices from the devices present, keeping the current choice. */
  #options(): void {
    const kinds = new Set<string>();
    const locations = new Set<string>();
    for (const { device } of this.#rows.values()) {
      if (device.kind) kinds.add(device.kind);
      const levels = (device.location ?? '').split('/').filter(Boolean);
      for (let depth = 1; depth <= Math.min(FILTER_DEPTH, levels.length); depth++)
        locations.add(levels.slice(0, depth).join('/'));
    }
    const fill = (select: HTMLSelectElement, all: string, values: Set<string>) => {
      const current = select.value;
      select.replaceChildren(
        h('option', { value: '' }, all),
        ...[...values].sort().map((value) => h('option', { value }, value)),
      );
      select.value = values.has(current) ? current : '';
    };
    fill(this.#kind, 'All kinds', kinds);
    fill(this.#location, 'Everywhere', locations);
  }

  #applyFilter(): void {
    const text = this.#search.value.trim().toLowerCase();
    const kind = this.#kind.value;
    const location = this.#location.value;
    for (const row of this.#rows.values()) {
      const { device } = row;
      const visible =
        (!text || device.id.includes(text) || (device.name ?? '').toLowerCase().includes(text)) &&
        (!kind || device.kind === kind) &&
        (!location || device.location === location || (device.location ?? '').startsWith(`${location}/`));
      row.tr.hidden = !visible;
    }
    for (const group of this.#groups) {
      group.box.hidden = group.rows.every((row) => row.tr.hidden);
      this.#caption(group);
    }
    this.#summarise();
  }

  #caption(group: Group): void {
    let watts = 0;
    let shown = 0;
    for (const row of group.rows) {
      if (row.tr.hidden) continue;
      shown++;
      watts += row.device.reading?.power_w ?? 0;
    }
    group.caption.textContent = `${group.key} · ${shown} device${shown === 1 ? '' : 's'} · ${formatPower(watts)}`;
  }

  #summarise(): void {
    let shown = 0;
    let online = 0;
    let offline = 0;
    for (const row of this.#rows.values()) {
      if (row.tr.hidden) continue;
      shown++;
      if (row.device.availability === 'online') online++;
      if (row.device.availability === 'offline') offline++;
    }
    const total = this.#rows.size;
    this.#summary.textContent = `${shown === total ? `${total}` : `${shown} of ${total}`} devices · ${online} online · ${offline} offline`;
  }
}
