import type { DeviceState } from '@wattbus/contracts';
import type { Api } from './api.js';
import { announce, h } from './dom.js';

/**
 * A relay switch: a button with role="switch" and aria-checked, so keyboards (Space, Enter) and
 * screen readers ("Relay of Desk 1, switch, on") work. Clicking asks the gateway to switch and
 * shows the state the device confirmed; events update it too.
 */
export class RelaySwitch {
  readonly element: HTMLButtonElement;
  #api: Api;
  #device: string;
  #name: string;
  #on: boolean | null = null;

  constructor(api: Api, device: string, name: string) {
    this.#api = api;
    this.#device = device;
    this.#name = name;
    this.element = h('button', {
      type: 'button',
      role: 'switch',
      class: 'relay',
      'aria-label': `Relay of ${name}`,
      onclick: () => void this.#toggle(),
    });
    this.set(null);
  }

  set(on: boolean | null): void {
    this.#on = on;
    this.element.setAttribute('aria-checked', on === null ? 'mixed' : String(on));
    this.element.textContent = on === null ? '?' : on ? 'On' : 'Off';
    this.element.dataset.on = String(on);
  }

  async #toggle(): Promise<void> {
    const next = this.#on !== true;
    this.element.disabled = true;
    this.element.setAttribute('aria-busy', 'true');
    try {
      const state = await this.#api.put<DeviceState>(
        `/api/v1/devices/${encodeURIComponent(this.#device)}/power`,
        {
          on: next,
        },
      );
      this.set(state.on);
      announce(`${this.#name} switched ${state.on ? 'on' : 'off'}`);
    } catch (error) {
      announce(`Could not switch ${this.#name}: ${(error as Error).message}`, 'error');
    } finally {
      this.element.disabled = false;
      this.element.removeAttribute('aria-busy');
      this.element.focus();
    }
  }
}
