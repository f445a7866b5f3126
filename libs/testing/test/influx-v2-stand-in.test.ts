import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startInflux, startInfluxV2StandIn, type InfluxServer, type InfluxV2StandIn } from '../src/index.js';

/** The stand-in's answers in the shapes of InfluxDB 2's API documentation, checked with plain fetch. */
describe('InfluxV2StandIn (the InfluxDB 2.x API over influxd 1.6.7)', () => {
  let influx: InfluxServer;
  let standIn: InfluxV2StandIn;
  const call = (path: string, token: string | undefined, init: RequestInit = {}) =>
    fetch(`${standIn.url}${path}`, {
      ...init,
      headers: { ...(token ? { authorization: `Token ${token}` } : {}), ...init.headers },
    });

  before(async () => {
    influx = await startInflux();
    standIn = await startInfluxV2StandIn({ influx, token: 'secret', readToken: 'reader', org: 'home' });
  });
  after(async () => {
    await standIn?.stop();
    await influx?.destroy();
  });

  it('answers /ping without a token, naming itself and the influxd behind it', async () => {
    const ping = await call('/ping', undefined);
    assert.equal(ping.status, 204);
    assert.equal(ping.headers.get('x-influxdb-version'), 'v2-stand-in');
    assert.match(ping.headers.get('x-influxdb-build') ?? '', /^InfluxV2StandIn over influxd 1\.6\.7/);
  });

  it('refuses a missing or unknown token with 401 {code, message}', async () => {
    for (const token of [undefined, 'guess']) {
      const answer = await call('/api/v2/buckets', token);
      assert.equal(answer.status, 401);
      assert.deepEqual(await answer.json(), { code: 'unauthorized', message: 'unauthorized access' });
    }
    const basic = await fetch(`${standIn.url}/query?q=SHOW%20DATABASES`, {
      headers: { authorization: `Basic ${Buffer.from('user:secret').toString('base64')}` },
    });
    assert.equal(basic.status, 401);
  });

  it('creates a bucket as a database, lists it by name, and refuses a second one (422) or a read token (401)', async () => {
    const orgs = (await (await call('/api/v2/orgs?org=home', 'secret')).json()) as {
      orgs: Array<{ id: string }>;
    };
    const orgID = orgs.orgs[0]!.id;
    assert.match(orgID, /^[0-9a-f]{16}$/);
    const create = (token: string) =>
      call('/api/v2/buckets', token, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ orgID, name: 'standin', retentionRules: [] }),
      });
    const refused = await create('reader');
    assert.equal(refused.status, 401);
    assert.deepEqual(await refused.json(), {
      code: 'unauthorized',
      message: `write:orgs/${orgID}/buckets is unauthorized`,
    });
    const created = await create('secret');
    assert.equal(created.status, 201);
    assert.equal(((await created.json()) as { name: string }).name, 'standin');
    assert.equal((await create('secret')).status, 422);
    const listed = (await (await call('/api/v2/buckets?org=home&name=standin', 'reader')).json()) as {
      buckets: Array<{ name: string; orgID: string }>;
    };
    assert.deepEqual(
      listed.buckets.map((bucket) => [bucket.name, bucket.orgID]),
      [['standin', orgID]],
    );
    const answer = await influx.query('standin', 'SHOW DATABASES');
    assert.ok(answer.results?.[0]?.series?.[0]?.values.flat().includes('standin'));
    const unknownOrg = await call('/api/v2/buckets?org=other&name=standin', 'secret');
    assert.equal(unknownOrg.status, 404);
    assert.deepEqual(await unknownOrg.json(), {
      code: 'not found',
      message: 'organization name "other" not found',
    });
  });

  it('writes line protocol to influxd, with 2.x statuses for a missing bucket (404) and a read token (403)', async () => {
    const write = (bucket: string, token: string, body: string) =>
      call(`/api/v2/write?org=home&bucket=${bucket}&precision=s`, token, { method: 'POST', body });
    const missing = await write('nowhere', 'secret', 'm v=1 1');
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), { code: 'not found', message: 'bucket "nowhere" not found' });
    assert.equal((await write('standin', 'reader', 'm v=1 1')).status, 403);
    assert.equal((await write('standin', 'secret', 'm v=1 1700000000')).status, 204);
    const parse = await write('standin', 'secret', 'not line protocol');
    assert.equal(parse.status, 400);
    assert.equal(((await parse.json()) as { code: string }).code, 'invalid');
    const query = await call(
      `/query?db=standin&epoch=s&q=${encodeURIComponent('SELECT v FROM m')}`,
      'reader',
    );
    assert.equal(query.status, 200);
    const result = (await query.json()) as { results: Array<{ series: Array<{ values: unknown[][] }> }> };
    assert.deepEqual(result.results[0]!.series[0]!.values, [[1_700_000_000, 1]]);
  });
});
