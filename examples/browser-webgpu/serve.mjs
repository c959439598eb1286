// Bundles app.mjs with esbuild and serves the page on http://127.0.0.1:8080 (PORT to change it).
// WebGPU needs a secure context: 127.0.0.1/localhost count as one. Open the printed address in a
// browser with WebGPU (Chrome, Edge, Safari 26+, Firefox with WebGPU enabled). Needs a prior build
// (`npm run build` at the repository root).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const port = Number(process.env.PORT ?? 8080);

const bundle = await build({
  entryPoints: [join(here, 'app.mjs')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  logLevel: 'error',
});
const app = bundle.outputFiles[0].contents;
const html = readFileSync(join(here, 'index.html'));

createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
  if (path === '/app.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(app);
  else if (path === '/' || path === '/index.html')
    res.writeHead(200, { 'content-type': 'text/html' }).end(html);
  else res.writeHead(404).end();
}).listen(port, '127.0.0.1', () => {
  console.log(`Tessera browser demo: http://127.0.0.1:${port}/  (Ctrl+C to stop)`);
});
