import { WattbusError } from '@wattbus/contracts';
import type { DriverDescription, DriverReading } from '../driver.js';
import type { HistoryBatch, HistoryRange } from '../history.js';
import { normalizeRealtime } from './emeter.js';
import { kasaStats } from './stats.js';
import { pickOutlet, type Outlet, type OutletSelector, type RequestSet } from './outlets.js';
import type { TplinkTransport } from './transport.js';

type Answer = Record<string, Record<string, Record<string, unknown> | undefined> | undefined>;

interface Sysinfo extends Record<string, unknown> {
  relay_state?: unknown;
  children?: unknown;
  feature?: unknown;
}

/**
 * Kasa's "IOT" request set (`system.get_sysinfo`, `emeter.get_realtime`,
 * `system.set_relay_state`), the same over the legacy port-9999 transport and over KLAP. A strip
 * (HS300, KP303, KP400, EP40) lists its outlets in `sysinfo.children`; a request about one outlet
 * carries `context.child_ids`, which also selects that outlet's emeter on an HS300.
 */
export class KasaRequests implements RequestSet {
  #transport: TplinkTransport;
  #where: string;
  #selector: OutletSelector | undefined;
  /** The selected outlet's full child id, learned from the first sysinfo. */
  #childId: string | undefined;

  constructor(transport: TplinkTransport, where: string, selector: OutletSelector | undefined) {
    this.#transport = transport;
    this.#where = where;
    this.#selector = selector;
  }

  async read(): Promise<DriverReading> {
    if (this.#selector && !this.#childId) await this.#sysinfo();
    const answer = await this.#send({ system: { get_sysinfo: {} }, emeter: { get_realtime: {} } });
    const sysinfo = this.#checked(answer, 'system', 'get_sysinfo') as Sysinfo;
    const on = this.#relayOf(sysinfo);
    const realtime = answer.emeter?.get_realtime;
    if (realtime?.err_code === 0) return { values: [normalizeRealtime(realtime, this.#where)], on };
    if (hasEmeter(sysinfo)) {
      // The outlet we asked about may be gone (strip replaced): learn the children again next time.
      this.#childId = undefined;
      throw new WattbusError('DEVICE_ERROR', `${this.#where} sent no emeter reading: ${errorText(realtime)}`);
    }
    // KP303, KP400, EP40 outlets and HS100/HS105 have a relay but no meter: state only.
    return { values: [], on };
  }

  async setPower(on: boolean): Promise<void> {
    if (this.#selector && !this.#childId) await this.#sysinfo();
    const answer = await this.#send({ system: { set_relay_state: { state: on ? 1 : 0 } } });
    this.#checked(answer, 'system', 'set_relay_state');
  }

  async getState(): Promise<{ on: boolean }> {
    return { on: this.#relayOf(await this.#sysinfo()) };
  }

  async describe(): Promise<DriverDescription> {
    const sysinfo = await this.#sysinfo();
    const outlet = this.#selector ? this.#outletOf(sysinfo) : undefined;
    const details: Record<string, string> = {};
    for (const key of ['alias', 'mac', 'sw_ver', 'hw_ver'] as const) {
      const value = key === 'alias' && outlet ? outlet.alias : sysinfo[key];
      if (typeof value === 'string') details[key] = value;
    }
    if (outlet) details.outlet = String(outlet.number);
    return { ...(typeof sysinfo.model === 'string' ? { model: sysinfo.model } : {}), details };
  }

  /**
   * The plug's daily and monthly energy (`emeter.get_daystat`, `get_monthstat`), for one outlet of
   * a strip by its context. `guard` bounds each request by the device's timeout.
   */
  async *history(
    range: HistoryRange,
    guard: <T>(work: () => Promise<T>) => Promise<T>,
  ): AsyncGenerator<HistoryBatch> {
    if (this.#selector && !this.#childId) await guard(() => this.#sysinfo());
    yield* kasaStats((request) => guard(() => this.#send(request)), range, this.#where);
  }

  async #sysinfo(): Promise<Sysinfo> {
    const sysinfo = this.#checked(await this.#send({ system: { get_sysinfo: {} } }), 'system', 'get_sysinfo');
    if (this.#selector) this.#childId = this.#outletOf(sysinfo).id;
    return sysinfo;
  }

  /** Sends with the outlet's context once its id is known. */
  async #send(request: Record<string, unknown>): Promise<Answer> {
    const withContext = this.#childId ? { context: { child_ids: [this.#childId] }, ...request } : request;
    const answer = await this.#transport.send(withContext);
    if (typeof answer !== 'object' || answer === null) {
      throw new WattbusError('DEVICE_ERROR', `${this.#where} answered with ${JSON.stringify(answer)}`);
    }
    return answer as Answer;
  }

  #checked(answer: Answer, module: string, method: string): Record<string, unknown> {
    const result = answer[module]?.[method];
    if (typeof result !== 'object' || result === null) {
      throw new WattbusError('DEVICE_ERROR', `${this.#where} sent no answer to ${module}.${method}`);
    }
    if (result.err_code !== undefined && result.err_code !== 0) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#where} refused ${module}.${method}: ${errorText(result)}`,
        {
          err_code: result.err_code,
        },
      );
    }
    return result;
  }

  #relayOf(sysinfo: Sysinfo): boolean {
    if (this.#selector) return this.#outletOf(sysinfo).on;
    if (Array.isArray(sysinfo.children) && sysinfo.children.length > 0) {
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#where} is a power strip with ${sysinfo.children.length} outlets: give each outlet its own registry entry with 'outlet: N' (1…${sysinfo.children.length}) or 'child_id'`,
      );
    }
    const relay = sysinfo.relay_state;
    if (relay !== 0 && relay !== 1)
      throw new WattbusError('DEVICE_ERROR', `${this.#where} reported no relay state`);
    return relay === 1;
  }

  #outletOf(sysinfo: Sysinfo): Outlet {
    const children = Array.isArray(sysinfo.children) ? (sysinfo.children as unknown[]) : [];
    const outlets = children.map((child, index): Outlet => {
      const entry = (child ?? {}) as Record<string, unknown>;
      return {
        number: index + 1,
        id: typeof entry.id === 'string' ? entry.id : '',
        alias: typeof entry.alias === 'string' ? entry.alias : '',
        on: entry.state === 1,
        stateKnown: entry.state === 0 || entry.state === 1,
      };
    });
    return pickOutlet(outlets, this.#selector!, this.#where);
  }
}

function hasEmeter(sysinfo: Sysinfo): boolean {
  return typeof sysinfo.feature === 'string' && sysinfo.feature.includes('ENE');
}

function errorText(result: Record<string, unknown> | undefined): string {
  if (!result) return 'no emeter module in the answer';
  return `err_code ${JSON.stringify(result.err_code)}${typeof result.err_msg === 'string' ? ` (${result.err_msg})` : ''}`;
}
