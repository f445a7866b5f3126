import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startInflux, type InfluxServer } from '@wattbus/testing';

/** The provisioned dashboard must parse and every query in it must run on a real influxd. */
const dashboardFile = new URL('../../../grafana/dashboards/wattbus.json', import.meta.url);

interface Panel {
  title: string;
  targets?: Array<{ query: string }>;
}

/** What Grafana puts in for its macros and our dashboard variables. */
function expand(query: string): string {
  return (
    query
      .replaceAll('$timeFilter', 'time > now() - 2d')
      .replaceAll('$__interval', '1m')
      .replaceAll('$device', '(desk-1|desk-2)')
      // Grafana's :regex format escapes regex characters, '/' included.
      .replaceAll('${location:regex}', 'hq\\/floor-1')
      .replaceAll('$timezone', 'Europe/Berlin')
      .replaceAll('$price_per_kwh', '0.30')
  );
}

describe('Grafana dashboard', () => {
  let influx: InfluxServer;

  before(async () => {
    influx = await startInflux();
    await influx.createDatabase('wattbus');
    const now = Date.now();
    const lines: string[] = [];
    for (let minute = 0; minute < 120; minute++) {
      for (const [device, location] of [
        ['desk-1', 'hq/floor-1/room-101/desk-1'],
        ['desk-2', 'hq/floor-1/room-101/desk-2'],
      ]) {
        const ts = now - (120 - minute) * 60_000;
        lines.push(
          `electricity,device=${device},location=${location},type=tplink power_w=${50 + minute},energy_wh=${1000 + minute * 2} ${ts}`,
        );
      }
    }
    await influx.write('wattbus', lines);
  });

  after(() => influx.destroy());

  it('parses and has its panels and variables', () => {
    const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as { panels: Panel[]; uid: string };
    assert.equal(dashboard.uid, 'wattbus-overview');
    assert.ok(dashboard.panels.length >= 5);
  });

  it('runs every panel and variable query against influxd without error, with data', async () => {
    const dashboard = JSON.parse(readFileSync(dashboardFile, 'utf8')) as {
      panels: Panel[];
      templating: { list: Array<{ type: string; query: string }> };
    };
    const queries = [
      ...dashboard.panels.flatMap((panel) =>
        (panel.targets ?? []).map((target) => [panel.title, target.query]),
      ),
      ...dashboard.templating.list
        .filter((variable) => variable.type === 'query')
        .map((v) => ['variable', v.query]),
    ];
    assert.ok(queries.length >= 6);
    for (const [title, query] of queries) {
      const answer = await influx.query('wattbus', expand(query!));
      const series = answer.results?.[0]?.series ?? [];
      assert.ok(series.length > 0, `${title}: no data for ${expand(query!)}`);
    }
  });
});
