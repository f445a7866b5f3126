/**
 * The baseline of bench/prometheus/run.ts: serves a fixed page (the hook's own /metrics, saved
 * once) from a plain node:http server, so a scrape of it costs only HTTP and the bytes.
 *   node --import tsx bench/prometheus/static-server.ts <page file>   (prints its port)
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const page = readFileSync(process.argv[2]!);
const server = createServer((_request, response) => {
  response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(page);
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
