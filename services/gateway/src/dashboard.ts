import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Router, type Response } from 'express';
import type { Logger } from '@wattbus/runtime';

/** The dashboard's sources: index.html, app.ts and its modules, style.css. */
export const UI_DIR = fileURLToPath(new URL('../ui/', import.meta.url));

interface Asset {
  type: string;
  body: Buffer;
}

/**
 * Everything the browser may load comes from this gateway; scripts only from files, so an
 * injected `<script>` or inline handler would not run. uPlot sets styles through the CSSOM,
 * which `style-src 'self'` allows.
 */
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

/**
 * Bundles ui/app.ts (TypeScript, uPlot) and ui/style.css with esbuild, in memory, on the first
 * request: the same "no build step" as the services (tsx), a few tens of ms once, nothing written
 * to disk, and the page gets two files instead of a dozen module requests. esbuild is loaded only
 * then, and its service process stopped after: a gateway nobody opens the dashboard of never
 * holds it (~10 MB).
 */
async function bundle(): Promise<Map<string, Asset>> {
  const esbuild = await import('esbuild');
  const result = await esbuild
    .build({
      entryPoints: { app: `${UI_DIR}app.ts`, style: `${UI_DIR}style.css` },
      bundle: true,
      format: 'esm',
      target: 'es2022',
      minify: true,
      write: false,
      outdir: '/ui',
      legalComments: 'eof',
      logLevel: 'silent',
    })
    .finally(() => esbuild.stop());
  const assets = new Map<string, Asset>();
  for (const file of result.outputFiles) {
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    const type = name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
    assets.set(name, { type, body: Buffer.from(file.contents) });
  }
  assets.set('index.html', {
    type: 'text/html; charset=utf-8',
    body: await readFile(`${UI_DIR}index.html`),
  });
  return assets;
}

/**
 * The built-in web dashboard: `/` is its page, `/ui/app.js` and `/ui/style.css` its script and
 * styles. They need no key (they hold none); the page asks for one and calls the API with it.
 */
export function dashboardRouter(logger: Logger): Router {
  const router = Router();
  let assets: Promise<Map<string, Asset>> | undefined;
  const load = () => {
    assets ??= bundle().catch((error: unknown) => {
      assets = undefined; // try again on the next request
      logger.error({ err: error }, 'could not bundle the dashboard');
      throw error;
    });
    return assets;
  };
  const send = (name: string) => async (_request: unknown, response: Response) => {
    const asset = (await load()).get(name)!;
    // express adds an ETag and answers 304 when the browser already has this version.
    response.set(SECURITY_HEADERS).type(asset.type).send(asset.body);
  };
  router.get('/', send('index.html'));
  router.get('/ui/app.js', send('app.js'));
  router.get('/ui/style.css', send('style.css'));
  return router;
}
