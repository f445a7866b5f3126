import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { hashApiKey, makeApiKey } from '@wattbus/gateway';
import { silentLogger } from '@wattbus/runtime';
import { freePort, waitUntil } from '@wattbus/testing';
import { launchChromium } from '@wattbus/testing/chromium';
import { Platform, type PlatformAddresses } from '../src/index.js';
import { writeFleetHistory } from './fleet-history.js';

/**
 * The dashboard in Debian's Chromium against the embedded platform (`npm start` in-process: its
 * broker, simulated fleet, agent, storage hook, query component, alert hook, gateway and influxd).
 * One browser for the file. Screenshots go to SCREENSHOT_DIR (docs/screenshots to refresh the
 * README's) or to the test's temp dir.
 */
const OFFLINE_DEVICE = 'meeting-201';

describe('dashboard in Chromium against the embedded platform', () => {
  let dir: string;
  let shots: string;
  let platform: Platform;
  let addresses: PlatformAddresses;
  let browser: Browser;
  let fleetPage: Page;
  const readKey = makeApiKey();
  const errors: string[] = [];

  /** A page whose console errors and uncaught exceptions fail the test (CSP violations among them). */
  async function newPage(context: BrowserContext): Promise<Page> {
    const page = await context.newPage();
    page.on('console', (message) => {
      // The wrong-key and read-only tests get their 401 and 403 on purpose.
      if (message.type() === 'error' && !/status of 40[13]/.test(message.text()))
        errors.push(`${page.url()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => errors.push(`${page.url()}: ${error.message}`));
    return page;
  }

  async function signIn(page: Page, key: string): Promise<void> {
    await page.goto(`${addresses.restUrl}/`);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dashboard-'));
    shots = process.env.SCREENSHOT_DIR ?? join(dir, 'screenshots');
    await mkdir(shots, { recursive: true });
    platform = new Platform({
      options: {
        dataDir: join(dir, 'data'),
        host: '127.0.0.1',
        httpPort: 0,
        mqttPort: await freePort(),
        wsPort: null,
        influxPort: await freePort(),
        database: 'wattbus',
        demo: true,
        plugCount: 6,
        timeZone: 'UTC',
        apiKeys: [{ name: 'wall-screen', sha256: hashApiKey(readKey), scopes: ['read'] }],
      },
      logger: silentLogger(),
    });
    addresses = await platform.start();
    await writeFleetHistory(addresses.influxUrl, platform.fleet.devices);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await platform?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the page at / with no key in it and a strict content security policy', async () => {
    const response = await fetch(`${addresses.restUrl}/`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(response.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await response.text();
    assert.ok(!html.includes(addresses.apiKey) && !html.includes('wbk_'), 'the page embeds a key');
    const script = await fetch(`${addresses.restUrl}/ui/app.js`);
    assert.match(script.headers.get('content-type') ?? '', /javascript/);
    assert.ok((await script.text()).includes('"uplot"'), 'uPlot is bundled, not loaded from elsewhere');
  });

  it('shows the login form again for a wrong key', async () => {
    const context = await browser.newContext();
    const page = await newPage(context);
    await signIn(page, `wbk_${'x'.repeat(43)}`);
    await page.getByText('That key was not accepted.').waitFor();
    assert.equal(await page.getByLabel('API key').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.locator('#nav').isHidden(), true);
    assert.equal(await page.evaluate('sessionStorage.getItem("wattbus.api-key")'), null);
    await shot(page, 'login');
    await context.close();
  });

  it('lists every device with a live power value that changes', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    fleetPage = await newPage(context);
    await signIn(fleetPage, addresses.apiKey);
    const ids = platform.fleet.devices.map((device) => device.id).sort();
    await fleetPage
      .locator('tr[data-device] td.power[data-value]:not([data-value=""])')
      .nth(ids.length - 1)
      .waitFor();
    const listed = await fleetPage.$$eval('tr[data-device]', (rows) =>
      rows.map((row) => row.getAttribute('data-device')!),
    );
    assert.deepEqual(listed.sort(), ids);
    assert.equal(await fleetPage.locator('#live').textContent(), 'Live');
    const first = await powers(fleetPage);
    // Every device's power cell shows a later reading with another value, pushed over the event stream.
    await waitUntil('every power value changed', async () => {
      const now = await powers(fleetPage);
      return ids.every((id) => now[id] !== '' && now[id] !== first[id]);
    });
    await shot(fleetPage, 'fleet');

    const phone = await newPage(
      await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true }),
    );
    await signIn(phone, addresses.apiKey);
    await phone
      .locator('tr[data-device]')
      .nth(ids.length - 1)
      .waitFor();
    const overflow = Number(await phone.evaluate('document.documentElement.scrollWidth - window.innerWidth'));
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone`);
    await shot(phone, 'fleet-phone');
    await phone.context().close();
  });

  it('switches a plug off from the fleet page; the next reading is ~0 W', async () => {
    const row = fleetPage.locator('tr[data-device="desk-1"]');
    const relay = row.getByRole('switch');
    assert.equal(await relay.getAttribute('aria-checked'), 'true');
    // Keyboard: focus the switch and press Space, as a keyboard user would.
    await relay.focus();
    await fleetPage.keyboard.press('Space');
    await fleetPage.locator('tr[data-device="desk-1"] [role="switch"][aria-checked="false"]').waitFor();
    assert.equal(platform.fleet.plug('desk-1')!.relayOn, false, 'the simulated plug is still on');
    // The agent stamps the state it read back after switching: readings after it are "next".
    let switchedAt = 0;
    await waitUntil('the query component knows the new state', async () => {
      const response = await fetch(`${addresses.restUrl}/api/v1/devices/desk-1`, {
        headers: { 'X-API-Key': addresses.apiKey },
      });
      const device = (await response.json()) as { state: { on: boolean; ts: string } | null };
      switchedAt = Date.parse(device.state?.ts ?? '');
      return device.state?.on === false;
    });
    const power = row.locator('td.power');
    await waitUntil(
      'a reading after the switch',
      async () => Date.parse((await power.getAttribute('data-ts'))!) > switchedAt,
    );
    const next = Number(await power.getAttribute('data-value'));
    assert.ok(Math.abs(next) < 1, `the next reading is ${next} W`);
    await relay.click();
    await fleetPage.locator('tr[data-device="desk-1"] [role="switch"][aria-checked="true"]').waitFor();
    assert.equal(platform.fleet.plug('desk-1')!.relayOn, true);
  });

  it('shows a read-only key no relay switch, and the gateway refuses it a switch', async () => {
    const context = await browser.newContext();
    const page = await newPage(context);
    await signIn(page, readKey);
    await page.locator('tr[data-device="desk-1"] td.power[data-value]:not([data-value=""])').waitFor();
    assert.equal(await page.getByRole('switch').count(), 0);
    assert.match(
      (await page.locator('tr[data-device="desk-1"] td.relay-cell').textContent()) ?? '',
      /^(On|Off)$/,
    );
    const refused = await fetch(`${addresses.restUrl}/api/v1/devices/desk-1/power`, {
      method: 'PUT',
      headers: { 'X-API-Key': readKey, 'Content-Type': 'application/json' },
      body: JSON.stringify({ on: false }),
    });
    assert.equal(refused.status, 403);
    await page.goto(`${addresses.restUrl}/#/devices/desk-1`);
    await page.locator('#power-chart[data-points]').waitFor();
    assert.equal(await page.getByRole('switch').count(), 0);
    await context.close();
  });

  it('charts a device: the expected points per range, zoom, CSV of what the chart shows, energy bars', async () => {
    const page = fleetPage;
    await page.getByRole('link', { name: 'Printer floor 1' }).click();
    const chart = page.locator('#power-chart');
    // 1 h in 10 s buckets: 360 points, every one but the current bucket filled by history and live readings.
    await page.locator('#power-chart[data-points="360"]').waitFor();
    assert.ok(Number(await chart.getAttribute('data-values')) >= 359);
    assert.match((await chart.getAttribute('aria-label')) ?? '', /^Power: 360 points/);
    const csv = await downloadCsv(page, page.getByRole('button', { name: 'Download power as CSV' }));
    assert.equal(csv[0], 'time,power_w');
    assert.equal(csv.length, 361);
    assert.ok(
      csv.slice(1, -1).every((line) => /^\d{4}-[^,]+,\d/.test(line)),
      'a bucket without a value',
    );
    assert.ok(await page.locator('#electric-chart[data-points="360"]').isVisible(), 'voltage and current');
    await page.locator('#energy-daily .plot[data-points="30"]').waitFor();
    await page.locator('#energy-monthly .plot[data-points="12"]').waitFor();
    await shot(page, 'device');

    await page.getByText('24 h', { exact: true }).click();
    await page.locator('#power-chart[data-points="288"]').waitFor(); // 5 min buckets
    await page.getByText('7 d', { exact: true }).click();
    await page.locator('#power-chart[data-points="336"]').waitFor(); // 30 min buckets
    await page.getByRole('button', { name: 'Zoom in' }).click();
    // Half of 7 days at a finer bucket (15 min): still a full chart, not stretched old points.
    await page.locator('#power-chart[data-points="336"]').waitFor();
    await page.getByText('mean per 15m').waitFor();
    const zoomed = await downloadCsv(page, page.getByRole('button', { name: 'Download power as CSV' }));
    assert.equal(zoomed.length, 337);
    await page.getByRole('button', { name: 'Reset zoom' }).click();
    await page.getByText('mean per 30m').waitFor();
  });

  it('shows energy and cost by location and by kind for a period', async () => {
    const page = fleetPage;
    await page.getByRole('link', { name: 'Totals' }).click();
    await page.getByLabel('Period').selectOption('30d');
    const printer = page.locator('#totals-kind tr[data-key="printer"] td[data-value]');
    await printer.waitFor();
    assert.ok(Number(await printer.getAttribute('data-value')) > 1, 'the printer history has kWh');
    await page.locator('#totals-kind tr[data-key="workplace"] td[data-value]').waitFor();
    await page.locator('#totals-location tr[data-key="hq/floor-1"]').waitFor();
    const csv = await downloadCsv(page, page.getByRole('button', { name: 'Download by kind as CSV' }));
    assert.equal(csv[0], 'kind,devices,energy_kwh,cost_eur');
    assert.ok(csv.some((line) => line.startsWith('printer,1,')));
    await shot(page, 'totals');
  });

  it('lists an alert as it is raised for a plug that went offline', { timeout: 90_000 }, async () => {
    const page = fleetPage;
    await page.getByRole('link', { name: 'Alerts' }).click();
    await page.locator('#alerts-active').getByText('No active alerts.').waitFor();
    await platform.fleet.plug(OFFLINE_DEVICE)!.stop();
    // Raised by the alert hook after 10 s offline; it arrives as an `alert` event, not by polling.
    await page.locator(`#alerts-active tr[data-subject="${OFFLINE_DEVICE}"]`).waitFor({ timeout: 60_000 });
    await page.locator('#alerts-recent').getByText('raised').first().waitFor();
    await shot(page, 'alerts');
    await page.getByRole('link', { name: 'Fleet' }).click();
    await page.locator(`tr[data-device="${OFFLINE_DEVICE}"] .badge.offline`).waitFor();
  });

  it('logged no console error or uncaught exception on any page', () => {
    assert.deepEqual(errors, []);
  });
});

async function powers(page: Page): Promise<Record<string, string>> {
  return page.$$eval('tr[data-device]', (rows) =>
    Object.fromEntries(
      rows.map((row) => [
        row.getAttribute('data-device')!,
        row.querySelector('td.power')!.getAttribute('data-value') ?? '',
      ]),
    ),
  );
}

async function downloadCsv(page: Page, button: ReturnType<Page['getByRole']>): Promise<string[]> {
  const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
  const text = await readFile((await download.path())!, 'utf8');
  return text.trimEnd().split('\r\n');
}
