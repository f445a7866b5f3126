import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { WriteAheadLog, type WriteAheadLogOptions } from '../src/index.js';

const dirs: string[] = [];
const logs: WriteAheadLog[] = [];

function recordingLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

function openLog(
  options: Partial<WriteAheadLogOptions> = {},
  dir = mkdtempSync(join(tmpdir(), 'wattbus-wal-')),
) {
  dirs.push(dir);
  const { logger, lines } = recordingLogger();
  const wal = new WriteAheadLog({
    options: {
      dir,
      maxBytes: 1024 * 1024,
      warnRatio: 0.8,
      fsyncIntervalMs: 1000,
      segmentMaxRecords: 3,
      segmentMaxAgeMs: 60_000,
      ...options,
    },
    logger,
  });
  logs.push(wal);
  return { wal, dir, lines };
}

afterEach(() => {
  for (const wal of logs.splice(0)) wal.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('WriteAheadLog', () => {
  it('seals a segment at segmentMaxRecords and hands segments out in order', async () => {
    const { wal } = openLog();
    wal.start();
    for (const record of ['a', 'b', 'c', 'd']) assert.equal(wal.append(record), undefined);
    const first = await wal.next();
    assert.deepEqual(wal.read(first!), ['a', 'b', 'c']);
    assert.deepEqual(wal.stats().depth_records, 4);
    wal.remove(first!);
    wal.sealActive();
    const second = await wal.next();
    assert.deepEqual(wal.read(second!), ['d']);
    wal.remove(second!);
    assert.equal(wal.stats().depth_records, 0);
    assert.equal(wal.stats().appended, 4);
  });

  it('seals a segment segmentMaxAgeMs after its first record', async () => {
    const { wal } = openLog({ segmentMaxAgeMs: 20 });
    wal.start();
    wal.append('only');
    const segment = await wal.next(); // resolves through the age timer
    assert.deepEqual(wal.read(segment!), ['only']);
  });

  it('replays what a crashed run left (no stop), dropping a torn last record', async () => {
    const { wal, dir } = openLog();
    wal.start();
    for (const record of ['1', '2', '3', '4', '5']) wal.append(record);
    // Simulate a power loss in the middle of an append to the active segment.
    const active = readdirSync(dir).sort().at(-1)!;
    appendFileSync(join(dir, active), 'half-a-rec');
    const { wal: again, lines } = openLog({}, dir);
    dirs.pop(); // same dir, removed once
    assert.deepEqual(again.start(), { segments: 2, records: 5 });
    const replayed: string[] = [];
    for (let segment = await again.next(); segment; segment = await again.next()) {
      replayed.push(...again.read(segment));
      // What the drain sends: the same records, each with its newline, the torn one left out.
      assert.equal(
        again.readBlock(segment),
        again
          .read(segment)
          .map((line) => `${line}\n`)
          .join(''),
      );
      again.remove(segment);
      if (again.stats().depth_records === 0) break;
    }
    assert.deepEqual(replayed, ['1', '2', '3', '4', '5']);
    assert.ok(lines.some((line) => /torn record/.test(line.msg)));
    again.append('6');
    assert.equal(again.stats().depth_records, 1);
  });

  it('warns before the bound and holds appends (and so the acks) while full', async () => {
    const { wal, lines } = openLog({ maxBytes: 30, warnRatio: 0.5, segmentMaxRecords: 2 });
    wal.start();
    for (let i = 0; i < 4; i++) assert.equal(wal.append(`record-${i}`), undefined); // 9 bytes each
    assert.ok(lines.some((line) => line.level === 40 && /filling up/.test(line.msg)));
    const waiting = wal.append('record-4');
    assert.ok(waiting instanceof Promise, 'a full log makes the append wait');
    assert.equal(wal.stats().waiting_for_room, 1);
    assert.ok(lines.some((line) => line.level === 50 && /full/.test(line.msg)));
    const oldest = await wal.next();
    wal.remove(oldest!);
    await waiting;
    assert.equal(wal.stats().depth_records, 3);
  });

  it('grouped: buffers appends and writes them with one write at flushPending()', async () => {
    const { wal, dir } = openLog({ grouped: true, segmentMaxRecords: 10 });
    wal.start();
    for (const record of ['g1', 'g2', 'g3']) assert.equal(wal.append(record), undefined);
    assert.equal(wal.stats().depth_records, 3);
    assert.deepEqual(readdirSync(dir), [], 'nothing written before the flush');
    wal.flushPending();
    assert.equal(readdirSync(dir).length, 1);
    assert.equal(wal.stats().appended, 3);
    wal.sealActive();
    const segment = await wal.next();
    assert.deepEqual(wal.read(segment!), ['g1', 'g2', 'g3']);
  });

  it('refuses a record with a newline (it would split into two)', () => {
    const { wal } = openLog();
    wal.start();
    assert.throws(() => wal.append('a\nb'), /newline/);
  });
});
