// scripts/serve.mjs, the server behind `npm start` and this layer: MIME types, what it refuses
// to serve, and moving to the next port when one is taken. Plain Node, no browser.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

/** Each file the page may need, with the Content-Type a browser must get for it. */
const EXPECTED_TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'assets/index.js': 'text/javascript; charset=utf-8',
  'assets/index.css': 'text/css; charset=utf-8',
  'assets/kernel.wasm': 'application/wasm',
  'demo/coins.coco.zip': 'application/zip',
  'demo/config.json': 'application/json; charset=utf-8',
  'demo/image.png': 'image/png',
  'icon.svg': 'image/svg+xml',
};

interface Served {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Runs the script as `npm start` does (minus --open) and waits for the URL it prints. */
function serve(dir: string, port: number): Promise<Served> {
  const child = spawn(process.execPath, ['scripts/serve.mjs', '--dir', dir, '--port', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(/http:\/\/localhost:(\d+)\//);
      if (!match) return;
      resolve({
        url: match[0],
        port: Number(match[1]),
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill();
          }),
      });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`serve.mjs exited with ${code}: ${output}`)));
  });
}

/** A raw GET, so paths like /../x reach the server unnormalised (fetch would clean them up). */
function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: 'localhost', port, path, method }, (response) => {
      let body = '';
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

describe('scripts/serve.mjs', () => {
  let root: string;
  let site: string;
  let served: Served;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'moontune-serve-'));
    site = join(root, 'site');
    for (const path of Object.keys(EXPECTED_TYPES)) {
      mkdirSync(join(site, path, '..'), { recursive: true });
      writeFileSync(join(site, path), `contents of ${path}`);
    }
    writeFileSync(join(root, 'secret.txt'), 'outside the served folder');
    served = await serve(site, 0);
  });

  afterAll(async () => {
    await served?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test('serves each file with its MIME type, and / as index.html', async () => {
    for (const [path, type] of Object.entries(EXPECTED_TYPES)) {
      const response = await get(served.port, `/${path}`);
      expect([path, response.status, response.type, response.body]).toEqual([path, 200, type, `contents of ${path}`]);
    }
    expect((await get(served.port, '/')).body).toBe('contents of index.html');
    expect((await get(served.port, '/demo/image.png?cache=1')).status).toBe(200);
  });

  test('answers 404 for missing files and for paths that leave the folder, 405 for writes', async () => {
    expect((await get(served.port, '/missing.js')).status).toBe(404);
    expect((await get(served.port, '/../secret.txt')).status).toBe(404);
    expect((await get(served.port, '/%2e%2e/secret.txt')).status).toBe(404);
    expect((await get(served.port, '/index.html', 'POST')).status).toBe(405);
    const head = await get(served.port, '/index.html', 'HEAD');
    expect([head.status, head.body]).toEqual([200, '']);
  });

  test('moves to the next port when the asked one is taken', async () => {
    const second = await serve(site, served.port);
    try {
      // The next free one: served.port + 1 unless something else happens to hold that too.
      expect(second.port).toBeGreaterThan(served.port);
      expect(second.port).toBeLessThan(served.port + 20);
      expect((await get(second.port, '/index.html')).body).toBe('contents of index.html');
    } finally {
      await second.stop();
    }
  });

  test('refuses to start without a built page, saying how to build it', async () => {
    await expect(serve(join(root, 'empty'), 0)).rejects.toThrow(/vite build/);
  });
});
