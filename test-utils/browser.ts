// Test helper: runs a bundled test page in Chromium (Debian's, driven by playwright-core), for the
// browser paths (navigator.gpu, onnxruntime-web's WebGPU provider) that Node cannot reach.
//
// The entry is bundled with esbuild, every `@tessera/<pkg>` import resolved to packages/<pkg>/src (as
// vitest does), and served from http://127.0.0.1 (a secure context, which WebGPU needs) with any extra
// static folders. A missing browser is a notice and a skip on a developer machine, and a failure where
// TESSERA_REQUIRE_BROWSER=1 (CI).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Chromium flags: WebGPU on (SwiftShader or Vulkan adapter), nothing that reaches the network. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** The Chromium binary: TESSERA_CHROMIUM, else Debian's /usr/bin/chromium; undefined when absent. */
export function chromiumPath(): string | undefined {
  const p = process.env.TESSERA_CHROMIUM ?? '/usr/bin/chromium';
  return existsSync(p) ? p : undefined;
}

/** True when a missing browser must fail the run (CI sets TESSERA_REQUIRE_BROWSER=1). */
export const browserRequired = process.env.TESSERA_REQUIRE_BROWSER === '1';

const MIME: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** Aliases `@tessera/<pkg>` to its source entry, for every package of the monorepo. */
function tesseraAliases(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const entry = join(root, 'packages', pkg, 'src', 'index.ts');
    if (existsSync(entry)) out[`@tessera/${pkg}`] = entry;
  }
  return out;
}

export interface BrowserPage {
  /** The playwright page, already at the served index. */
  page: import('playwright-core').Page;
  /** Console lines the page printed so far (errors included), and failed requests. */
  logs: string[];
  /** Closes the browser and the server. */
  close(): Promise<void>;
}

/**
 * Bundles `entry` (an ES module that sets up globals for the test to call through `page.evaluate`, and
 * sets `globalThis.__ready = true`, or `__error`), with extra import aliases (e.g. `vitest` →
 * test-utils/browser-vitest.ts) and the page's own HTML if given (its module script must load `/main.js`), serves it with `statics` (URL prefix → folder), opens it in Chromium
 * and waits until the module has run. Returns undefined (after a notice) when no browser is installed and none is required.
 */
export async function openBrowserPage(
  entry: string,
  statics: Record<string, string> = {},
  options: { alias?: Record<string, string>; html?: string } = {},
): Promise<BrowserPage | undefined> {
  const exe = chromiumPath();
  if (!exe) {
    const msg = 'no Chromium at /usr/bin/chromium (apt-get install chromium, or set TESSERA_CHROMIUM)';
    if (browserRequired) throw new Error(`a browser is required here (TESSERA_REQUIRE_BROWSER=1): ${msg}`);
    console.warn(`[tessera] browser tests skipped: ${msg}`);
    return undefined;
  }
  const esbuild = await import('esbuild');
  const built = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    alias: { ...tesseraAliases(), ...options.alias },
    logLevel: 'error',
  });
  const bundle = built.outputFiles[0]!.contents;
  const html =
    options.html ?? '<!doctype html><meta charset="utf-8"><script type="module" src="/main.js"></script>';

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = decodeURIComponent(url.pathname);
    const send = (status: number, type: string, body: string | Uint8Array) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (path === '/' || path === '/index.html') return send(200, MIME['.html']!, html);
    if (path === '/main.js') return send(200, MIME['.js']!, bundle);
    if (path === '/favicon.ico') return send(204, 'image/x-icon', '');
    for (const [prefix, dir] of Object.entries(statics)) {
      if (!path.startsWith(prefix)) continue;
      const file = normalize(join(dir, path.slice(prefix.length)));
      if (!file.startsWith(normalize(dir)) || !existsSync(file) || !statSync(file).isFile()) break;
      return send(200, MIME[extname(file)] ?? 'application/octet-stream', readFileSync(file));
    }
    send(404, 'text/plain', `not found: ${path}`);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;

  const { chromium } = await import('playwright-core');
  let browser: import('playwright-core').Browser;
  try {
    browser = await chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS, headless: true });
  } catch (err) {
    server.close();
    throw err;
  }
  const close = async () => {
    await browser.close().catch(() => {});
    await new Promise<void>((ok) => server.close(() => ok()));
  };
  try {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => {
      logs.push(`${m.type()}: ${m.text()}`);
      if (process.env.TESSERA_BROWSER_LOG === '1') console.log(`[page] ${m.text()}`);
    });
    page.on('requestfailed', (r) => logs.push(`requestfailed: ${r.url()}`));
    page.on('response', (r) => {
      if (r.status() >= 400) logs.push(`http ${r.status()}: ${r.url()}`);
    });
    page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(
      () => {
        const g = globalThis as { __ready?: boolean; __error?: string };
        return g.__ready === true || g.__error !== undefined;
      },
      undefined,
      { timeout: 60_000 },
    );
    const error = await page.evaluate(() => (globalThis as { __error?: string }).__error);
    if (error !== undefined) throw new Error(`test page failed to load: ${error}\n${logs.join('\n')}`);
    return { page, logs, close };
  } catch (err) {
    await close();
    throw err;
  }
}
