import { randomBytes } from 'node:crypto';

/**
 * The state and "SMART" request handling of a Tapo plug (P110) or power strip (P304M, three
 * metered outlets reached through `control_child`), as python-kasa and Tapo's app use it:
 * `{ method, params }` in, `{ error_code, result }` out, `multipleRequest` for several at once.
 */
export type TapoModel = 'P110' | 'P304M';

export interface TapoOutlet {
  device_id: string;
  position: number;
  nickname: string;
  on: boolean;
  power_w: number;
}

interface SmartRequest {
  method?: unknown;
  params?: unknown;
}

type SmartAnswer = { error_code: number; result?: unknown };

const UNKNOWN_METHOD = -1002;
const PARAMS_ERROR = -1008;

export class TapoState {
  readonly model: TapoModel;
  readonly deviceId = randomBytes(20).toString('hex').toUpperCase();
  nickname: string;
  on = false;
  power_w = 0;
  today_energy_wh = 0;
  month_energy_wh = 0;
  /** Leave `current_power` out of `get_energy_usage`, as some firmware does. */
  omitUsagePower = false;
  readonly outlets: TapoOutlet[] = [];

  constructor(model: TapoModel, nickname = `Tapo ${model}`) {
    this.model = model;
    this.nickname = nickname;
    if (model === 'P304M') {
      for (let position = 1; position <= 3; position++) {
        this.outlets.push({
          device_id: `${this.deviceId}0${position - 1}`,
          position,
          nickname: `Outlet ${position}`,
          on: false,
          power_w: 0,
        });
      }
    }
  }

  process(request: SmartRequest): SmartAnswer {
    return this.#handle(request, undefined);
  }

  #handle(request: SmartRequest, outlet: TapoOutlet | undefined): SmartAnswer {
    const params = (
      typeof request.params === 'object' && request.params !== null ? request.params : {}
    ) as Record<string, unknown>;
    switch (request.method) {
      case 'multipleRequest': {
        const requests = Array.isArray(params.requests) ? (params.requests as SmartRequest[]) : [];
        return {
          error_code: 0,
          result: {
            responses: requests.map((inner) => ({ method: inner.method, ...this.#handle(inner, outlet) })),
          },
        };
      }
      case 'get_device_info':
        return { error_code: 0, result: this.#info(outlet) };
      case 'get_energy_usage': {
        const power = outlet ? outlet.power_w : this.power_w;
        return {
          error_code: 0,
          result: {
            today_energy: this.today_energy_wh,
            month_energy: this.month_energy_wh,
            today_runtime: 60,
            month_runtime: 600,
            ...(this.omitUsagePower ? {} : { current_power: Math.round(power * 1000) }),
          },
        };
      }
      case 'get_current_power':
        return {
          error_code: 0,
          result: { current_power: Math.round(outlet ? outlet.power_w : this.power_w) },
        };
      case 'set_device_info': {
        if (typeof params.device_on !== 'boolean') return { error_code: PARAMS_ERROR };
        if (outlet) outlet.on = params.device_on;
        else if (this.model === 'P304M') return { error_code: PARAMS_ERROR };
        else this.on = params.device_on;
        return { error_code: 0, result: {} };
      }
      case 'get_child_device_list':
        if (outlet || this.model !== 'P304M') return { error_code: UNKNOWN_METHOD };
        return {
          error_code: 0,
          result: {
            child_device_list: this.outlets.map((child) => this.#info(child)),
            start_index: 0,
            sum: this.outlets.length,
          },
        };
      case 'control_child': {
        const child = this.outlets.find((entry) => entry.device_id === params.device_id);
        if (outlet || !child) return { error_code: PARAMS_ERROR };
        const inner = (params.requestData ?? {}) as SmartRequest;
        return { error_code: 0, result: { responseData: this.#handle(inner, child) } };
      }
      default:
        return { error_code: UNKNOWN_METHOD };
    }
  }

  #info(outlet: TapoOutlet | undefined): Record<string, unknown> {
    const common = { model: this.model, type: 'SMART.TAPOPLUG', fw_ver: '1.3.1 Build 240621', hw_ver: '1.0' };
    if (outlet) {
      return {
        ...common,
        device_id: outlet.device_id,
        position: outlet.position,
        nickname: Buffer.from(outlet.nickname).toString('base64'),
        device_on: outlet.on,
      };
    }
    return {
      ...common,
      device_id: this.deviceId,
      mac: '3C-52-A1-00-00-01',
      nickname: Buffer.from(this.nickname).toString('base64'),
      // A strip's parent has no relay of its own.
      ...(this.model === 'P304M' ? {} : { device_on: this.on }),
    };
  }
}
