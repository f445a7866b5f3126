import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startAedes, type AedesServer } from '@wattbus/testing';
import { toCsv } from '../ui/csv.js';
import { bucketFor, lastDays, lastMonths, MAX_POINTS, rangeWindow, RANGES, windowOf } from '../ui/ranges.js';
import { SseParser } from '../ui/sse.js';
import { startGateway } from './helpers.js';

describe('dashboard assets (aedes)', () => {
  let broker: AedesServer;
  let stack: Awaited<ReturnType<typeof startGateway>>;

  before(async () => {
    broker = await startAedes();
    stack = await startGateway(broker.url);
  });

  after(async () => {
    await stack.stop();
    await broker.stop();
  });

  it('serves the page at / and its bundled script and styles without a key, with a strict CSP', async () => {
    const page = await fetch(`${stack.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    const html = await page.text();
    assert.match(html, /<script type="module" src="\/ui\/app.js">/);
    assert.doesNotMatch(html, /https?:\/\//, 'the page loads nothing from elsewhere');

    const script = await fetch(`${stack.url}/ui/app.js`);
    assert.match(script.headers.get('content-type') ?? '', /^text\/javascript/);
    const code = await script.text();
    assert.doesNotMatch(code, /^\s*import\s/m, 'the bundle still imports modules');
    assert.match(code, /\/api\/v1\/events/);
    const styles = await fetch(`${stack.url}/ui/style.css`);
    assert.match(styles.headers.get('content-type') ?? '', /^text\/css/);
    assert.match(await styles.text(), /\.uplot/, "uPlot's styles are bundled");

    // node:http, since fetch() asks past any cache (Cache-Control: no-cache) as it keeps none.
    const revalidated = await new Promise<number | undefined>((resolve, reject) => {
      request(
        `${stack.url}/ui/app.js`,
        { headers: { 'if-none-match': script.headers.get('etag')! } },
        (response) => {
          response.resume();
          resolve(response.statusCode);
        },
      )
        .on('error', reject)
        .end();
    });
    assert.equal(revalidated, 304);
  });

  it('still answers unknown paths with a problem, not the page', async () => {
    const response = await stack.api.get('/nothing-here', { key: null });
    assert.equal(response.status, 404);
  });
});

describe('dashboard modules', () => {
  it('parses server-sent events split anywhere, with CRLF, comments and multi-line data', () => {
    const text =
      'retry: 3000\r\n: subscribed\r\n\r\nevent: reading\r\ndata: {"a":1}\r\n\r\nevent: x\ndata: one\ndata: two\n\ndata: plain\n\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const parser = new SseParser();
      const messages = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      assert.deepEqual(
        messages,
        [
          { event: 'reading', data: '{"a":1}' },
          { event: 'x', data: 'one\ntwo' },
          { event: 'message', data: 'plain' },
        ],
        `cut at ${cut}`,
      );
    }
  });

  it('writes CSV with quoting and defuses spreadsheet formulas', () => {
    assert.equal(
      toCsv(
        ['time', 'note', 'power_w'],
        [
          ['2026-11-23T18:45:00.000Z', 'a, "b"', 61.5],
          ['2026-11-23T18:46:00.000Z', '=HYPERLINK("x")', null],
        ],
      ),
      'time,note,power_w\r\n2026-11-23T18:45:00.000Z,"a, ""b""",61.5\r\n2026-11-23T18:46:00.000Z,"\'=HYPERLINK(""x"")",\r\n',
    );
  });

  it('gives each range a whole number of aligned buckets, at most MAX_POINTS', () => {
    const now = Date.parse('2026-11-23T18:45:07.123Z');
    const expected = { '1h': ['10s', 360], '24h': ['5m', 288], '7d': ['30m', 336], '30d': ['2h', 360] };
    for (const range of RANGES) {
      const window = rangeWindow(range.ms, now);
      assert.deepEqual([window.every, window.points], expected[range.id], range.id);
      assert.equal(window.to - window.from, range.ms);
      assert.equal(window.from % window.bucketMs, 0);
      assert.ok(
        window.from <= now - range.ms + window.bucketMs && window.to > now,
        'the window ends with now',
      );
    }
    const zoomed = windowOf(now - 600_000, now);
    assert.ok(zoomed.points <= MAX_POINTS && zoomed.points > MAX_POINTS / 3);
    assert.equal(bucketFor(10 * 86_400_000 * 1000).every, '1d');
  });

  it('counts calendar days and months back from today in local time', () => {
    const days = lastDays(30, new Date(2026, 2, 31, 15));
    assert.deepEqual([days.from, days.to], [new Date(2026, 2, 2), new Date(2026, 3, 1)]);
    const months = lastMonths(12, new Date(2026, 10, 23));
    assert.deepEqual([months.from, months.to], [new Date(2025, 11, 1), new Date(2026, 11, 1)]);
  });
});
