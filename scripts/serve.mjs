#!/usr/bin/env node
// `npm start` serves the built page: a small static file server for dist/ on
// http://localhost:4173 (or the next free port), with the MIME types the page needs.
//
//   node scripts/serve.mjs [--open] [--port N] [--dir PATH]
//
// localhost matters: browsers expose WebGPU (navigator.gpu) only to secure contexts, and
// http://localhost counts as one. The e2e tests spawn this script and read the URL it prints.
import { createServer } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.zip': 'application/zip',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.safetensors': 'application/octet-stream',
};

const DEFAULT_PORT = 4173;
const PORTS_TO_TRY = 20;

/** The file a request path names inside root, or undefined when it escapes root or is missing. */
function fileFor(root, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath.split('?')[0].split('#')[0]);
  } catch {
    return undefined;
  }
  const candidate = normalize(join(root, decoded));
  if (candidate !== root && !candidate.startsWith(root + sep)) return undefined;
  if (!existsSync(candidate)) return undefined;
  const stats = statSync(candidate);
  if (stats.isDirectory()) {
    const index = join(candidate, 'index.html');
    return existsSync(index) ? index : undefined;
  }
  return stats.isFile() ? candidate : undefined;
}

function handleRequest(root, request, response) {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  const file = fileFor(root, request.url ?? '/');
  if (!file) {
    response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`Not found: ${request.url}\n`);
    return;
  }
  response.writeHead(200, {
    'Content-Type': MIME_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': statSync(file).size,
    // A rebuilt page must never mix with a cached older one.
    'Cache-Control': 'no-cache',
  });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  createReadStream(file).pipe(response);
}

function listenOn(server, port) {
  return new Promise((resolvePort, reject) => {
    const onError = (error) => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolvePort(server.address().port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, 'localhost');
  });
}

/**
 * Serves `dir` on localhost, starting at `port` and moving to the next port while one is taken.
 * Resolves to { url, port, close() }.
 */
export async function startServer({ dir = 'dist', port = DEFAULT_PORT } = {}) {
  const root = resolve(dir);
  if (!existsSync(join(root, 'index.html'))) {
    throw new Error(`No built page in ${root}. Run \`npx vite build\` (or \`npm start\`) first.`);
  }
  const server = createServer((request, response) => handleRequest(root, request, response));
  const lastPort = port === 0 ? 0 : port + PORTS_TO_TRY - 1;
  for (let candidate = port; ; candidate++) {
    try {
      const boundPort = await listenOn(server, candidate);
      return {
        url: `http://localhost:${boundPort}/`,
        port: boundPort,
        close: () => new Promise((done) => server.close(() => done())),
      };
    } catch (error) {
      if (error.code !== 'EADDRINUSE' || candidate >= lastPort) {
        throw new Error(`Could not listen on localhost:${candidate} (${error.message}). Pass --port N to choose another port.`);
      }
    }
  }
}

/** Best effort: a headless machine has no browser to open, and that is fine. */
function openInBrowser(url) {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
  } catch {
    // No opener installed: the printed URL is enough.
  }
}

function parseArguments(argv) {
  const options = { open: false, port: DEFAULT_PORT, dir: 'dist' };
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index];
    if (argument === '--open') options.open = true;
    else if (argument === '--port') options.port = Number(argv[++index]);
    else if (argument === '--dir') options.dir = argv[++index];
    else throw new Error(`Unknown argument ${argument}. Usage: node scripts/serve.mjs [--open] [--port N] [--dir PATH]`);
  }
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new Error('--port needs a port number between 0 and 65535.');
  }
  return options;
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  const { url } = await startServer(options);
  console.log(`moontune is served at ${url}`);
  console.log('Press Ctrl+C to stop.');
  if (options.open) openInBrowser(url);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error.message);
    process.exit(1);
  });
}
