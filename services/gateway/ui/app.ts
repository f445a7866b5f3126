import type { ApiKeyInfo, LiveEvent } from '@wattbus/contracts';
import { AlertsPage } from './alerts-page.js';
import { Api, ApiError } from './api.js';
import { DevicePage } from './device-page.js';
import { h } from './dom.js';
import { FleetPage } from './fleet-page.js';
import { LiveStream, type LiveStatus } from './live.js';
import type { Page, PageContext } from './page.js';
import { TotalsPage } from './totals-page.js';

/** sessionStorage: this tab only, cleared when it closes; never in a URL, never in the page. */
const KEY_ITEM = 'wattbus.api-key';

interface Session {
  api: Api;
  live: LiveStream;
  info: ApiKeyInfo;
}

const LIVE_TEXT: Record<LiveStatus, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  stopped: '',
};

/**
 * The dashboard: a login form until a key with the read scope is given, then one page at a time
 * by the URL's hash (`#/`, `#/devices/{id}`, `#/totals`, `#/alerts`) over one live event stream.
 */
class Dashboard {
  #main = document.getElementById('main')!;
  #nav = document.getElementById('nav')!;
  #liveBadge = document.getElementById('live')!;
  #logout = document.getElementById('logout') as HTMLButtonElement;
  #session: Session | undefined;
  #page: Page | undefined;

  async boot(): Promise<void> {
    window.addEventListener('hashchange', () => void this.#route());
    this.#logout.addEventListener('click', () => this.#signOut());
    const key = sessionStorage.getItem(KEY_ITEM);
    if (key && (await this.#signIn(key).catch(() => false))) return;
    this.#showLogin();
  }

  /** True when the key works and may read; otherwise the reason is shown on the login form. */
  async #signIn(key: string): Promise<boolean> {
    const api = new Api(key, () => this.#expired());
    const info = await api.get<ApiKeyInfo>('/api/v1/whoami');
    sessionStorage.setItem(KEY_ITEM, key);
    const live = new LiveStream({
      api,
      onEvent: (event: LiveEvent) => this.#page?.onEvent?.(event),
      onStatus: (status) => {
        this.#liveBadge.textContent = LIVE_TEXT[status];
        this.#liveBadge.dataset.status = status;
      },
      onReconnect: () => this.#page?.onReconnect?.(),
    });
    this.#session = { api, live, info };
    live.start();
    this.#nav.hidden = false;
    this.#logout.hidden = false;
    this.#logout.textContent = `Sign out ${info.name}`;
    await this.#route();
    return true;
  }

  #expired(): void {
    if (!this.#session) return;
    this.#signOut('The key was not accepted any more. Sign in again.');
  }

  #signOut(message?: string): void {
    sessionStorage.removeItem(KEY_ITEM);
    this.#page?.stop();
    this.#page = undefined;
    this.#session?.live.stop();
    this.#session = undefined;
    this.#nav.hidden = true;
    this.#logout.hidden = true;
    this.#showLogin(message);
  }

  #showLogin(message?: string): void {
    document.title = 'Sign in · WattBus';
    const input = h('input', {
      id: 'api-key',
      name: 'api-key',
      type: 'password',
      autocomplete: 'off',
      spellcheck: 'false',
      required: true,
      'aria-describedby': 'login-help login-error',
    });
    const error = h('p', { id: 'login-error', class: 'error', role: 'alert' }, message ?? '');
    const button = h('button', { type: 'submit' }, 'Sign in');
    const form = h(
      'form',
      {
        class: 'login',
        'aria-labelledby': 'login-title',
        onsubmit: (event) => {
          event.preventDefault();
          void submit();
        },
      },
      h('h1', { id: 'login-title', tabindex: '-1' }, 'Sign in'),
      h('label', { for: 'api-key' }, 'API key'),
      input,
      h(
        'p',
        { id: 'login-help', class: 'help' },
        'A key with the read scope (control to switch relays). It is kept in this tab only and sent to this gateway in a header.',
      ),
      error,
      button,
    );
    const submit = async () => {
      button.disabled = true;
      error.textContent = '';
      try {
        await this.#signIn(input.value.trim());
      } catch (failure) {
        const status = failure instanceof ApiError ? failure.status : 0;
        error.textContent =
          status === 401
            ? 'That key was not accepted.'
            : status === 403
              ? 'That key lacks the read scope the dashboard needs.'
              : `Could not sign in: ${(failure as Error).message}`;
        input.setAttribute('aria-invalid', 'true');
        input.focus();
      } finally {
        button.disabled = false;
      }
    };
    this.#main.replaceChildren(form);
    input.focus();
  }

  async #route(): Promise<void> {
    const session = this.#session;
    if (!session) return;
    this.#page?.stop();
    document.getElementById('notice')!.hidden = true; // a notice belongs to the page that showed it
    const root = h('div', { class: 'page' });
    this.#main.replaceChildren(root);
    const context: PageContext = {
      api: session.api,
      live: session.live,
      canControl: session.info.scopes.includes('control'),
      root,
    };
    const hash = location.hash.replace(/^#/, '') || '/';
    const device = /^\/devices\/([a-z0-9][a-z0-9_-]*)$/.exec(hash);
    let page: Page;
    if (device) page = new DevicePage(context, device[1]!);
    else if (hash === '/totals') page = new TotalsPage(context);
    else if (hash === '/alerts') page = new AlertsPage(context);
    else page = new FleetPage(context);
    this.#page = page;
    const section = device ? '/' : hash;
    for (const link of this.#nav.querySelectorAll('a')) {
      if (link.getAttribute('href') === `#${section}`) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    document.title = `${page.title} · WattBus`;
    try {
      const started = page.start();
      // Focus the new page's heading, so keyboard and screen-reader users land on it.
      root.querySelector<HTMLElement>('h1')?.focus();
      await started;
      if (this.#page === page) root.querySelector<HTMLElement>('h1')?.focus({ preventScroll: true });
    } catch (error) {
      if (this.#page !== page || (error instanceof ApiError && error.status === 401)) return;
      root.append(
        h('p', { class: 'error', role: 'alert' }, `Could not load this page: ${(error as Error).message}`),
      );
    }
  }
}

void new Dashboard().boot();
