import { randomUUID } from 'node:crypto';
import { WattbusError } from '@wattbus/contracts';
import type { DriverDescription, DriverReading, ReadingValues } from '../driver.js';
import { pickOutlet, type Outlet, type OutletSelector, type RequestSet } from './outlets.js';
import { checkEnvelope } from './passthrough.js';
import type { TplinkTransport } from './transport.js';

interface SmartCall {
  method: string;
  params?: Record<string, unknown>;
}

type Results = Map<string, Record<string, unknown> | WattbusError>;

/** One poll asks for these in one `multipleRequest`. */
const READ_CALLS: SmartCall[] = [
  { method: 'get_device_info' },
  { method: 'get_energy_usage' },
  { method: 'get_current_power' },
];

/**
 * Tapo's "SMART" request set (P110, P115, P110M; the P304M strip through `control_child`):
 * `{ method, params }` requests answered with `{ error_code, result }`, several at once in a
 * `multipleRequest`. Power comes from `get_energy_usage.current_power` (mW) or, where the
 * firmware leaves it out, `get_current_power.current_power` (W). Tapo plugs keep only today's
 * and this month's energy, no lifetime counter, so readings carry no `energy_wh` (the query
 * component integrates power instead).
 */
export class TapoRequests implements RequestSet {
  #transport: TplinkTransport;
  #where: string;
  #selector: OutletSelector | undefined;
  #childId: string | undefined;
  #terminal = randomUUID();

  constructor(transport: TplinkTransport, where: string, selector: OutletSelector | undefined) {
    this.#transport = transport;
    this.#where = where;
    this.#selector = selector;
  }

  async read(): Promise<DriverReading> {
    const results = await this.#calls(READ_CALLS);
    const info = required(results, 'get_device_info', this.#where);
    const usage = results.get('get_energy_usage');
    const power = results.get('get_current_power');
    let power_w: number | undefined;
    if (usage && !(usage instanceof WattbusError) && isNumber(usage.current_power))
      power_w = usage.current_power / 1000;
    else if (power && !(power instanceof WattbusError) && isNumber(power.current_power))
      power_w = power.current_power;
    if (power_w === undefined) {
      const reason = [usage, power].find((entry) => entry instanceof WattbusError);
      throw new WattbusError(
        'DEVICE_ERROR',
        `${this.#where} sent no current power${reason instanceof WattbusError ? `: ${reason.message}` : ''}`,
      );
    }
    const values: ReadingValues = { power_w: Math.round(power_w * 1e6) / 1e6 };
    return { values: [values], on: this.#onOf(info) };
  }

  async setPower(on: boolean): Promise<void> {
    required(
      await this.#calls([{ method: 'set_device_info', params: { device_on: on } }]),
      'set_device_info',
      this.#where,
    );
  }

  async getState(): Promise<{ on: boolean }> {
    return {
      on: this.#onOf(
        required(await this.#calls([{ method: 'get_device_info' }]), 'get_device_info', this.#where),
      ),
    };
  }

  async describe(): Promise<DriverDescription> {
    const info = required(await this.#calls([{ method: 'get_device_info' }]), 'get_device_info', this.#where);
    const details: Record<string, string> = {};
    if (typeof info.nickname === 'string')
      details.alias = Buffer.from(info.nickname, 'base64').toString('utf8');
    for (const key of ['mac', 'fw_ver', 'hw_ver', 'device_id'] as const) {
      if (typeof info[key] === 'string') details[key] = info[key];
    }
    if (this.#childId) details.child_id = this.#childId;
    return { ...(typeof info.model === 'string' ? { model: info.model } : {}), details };
  }

  #onOf(info: Record<string, unknown>): boolean {
    if (typeof info.device_on !== 'boolean') {
      throw new WattbusError('DEVICE_ERROR', `${this.#where} reported no relay state (device_on)`);
    }
    return info.device_on;
  }

  /** Runs `calls` in one multipleRequest, through `control_child` for an outlet of a strip. */
  async #calls(calls: SmartCall[]): Promise<Results> {
    const multiple = { method: 'multipleRequest', params: { requests: calls } };
    if (!this.#selector) return this.#responses(await this.#send(multiple), 'multipleRequest');
    const childId = this.#childId ?? (await this.#findChild());
    const result = await this.#send({
      method: 'control_child',
      params: { device_id: childId, requestData: multiple },
    });
    try {
      return this.#responses(
        checkEnvelope(result.responseData, this.#where, 'control_child'),
        'control_child',
      );
    } catch (error) {
      // The outlet may be gone (strip replaced): look it up again next time.
      this.#childId = undefined;
      throw error;
    }
  }

  async #findChild(): Promise<string> {
    const list = (await this.#send({ method: 'get_child_device_list', params: { start_index: 0 } }))
      .child_device_list;
    const outlets = (Array.isArray(list) ? (list as Record<string, unknown>[]) : [])
      .map((child): Outlet & { position: number } => ({
        number: 0,
        position: isNumber(child?.position) ? child.position : Number.MAX_SAFE_INTEGER,
        id: typeof child?.device_id === 'string' ? child.device_id : '',
        alias: typeof child?.nickname === 'string' ? child.nickname : '',
        on: child?.device_on === true,
        stateKnown: typeof child?.device_on === 'boolean',
      }))
      .sort((a, b) => a.position - b.position)
      .map((outlet, index) => ({ ...outlet, number: index + 1 }));
    this.#childId = pickOutlet(outlets, this.#selector!, this.#where).id;
    return this.#childId;
  }

  async #send(request: SmartCall): Promise<Record<string, unknown>> {
    const answer = await this.#transport.send({
      ...request,
      request_time_milis: Date.now(),
      terminal_uuid: this.#terminal,
    });
    return checkEnvelope(answer, this.#where, request.method);
  }

  #responses(result: Record<string, unknown>, method: string): Results {
    const responses = result.responses;
    if (!Array.isArray(responses))
      throw new WattbusError('DEVICE_ERROR', `${this.#where} answered ${method} without responses`);
    const results: Results = new Map();
    for (const response of responses as Record<string, unknown>[]) {
      if (typeof response?.method !== 'string') continue;
      try {
        results.set(response.method, checkEnvelope(response, this.#where, response.method));
      } catch (error) {
        results.set(response.method, error as WattbusError);
      }
    }
    return results;
  }
}

function required(results: Results, method: string, where: string): Record<string, unknown> {
  const result = results.get(method);
  if (result instanceof WattbusError) throw result;
  if (!result) throw new WattbusError('DEVICE_ERROR', `${where} sent no answer to ${method}`);
  return result;
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
