// The e2e layer's harness: serves the built page with scripts/serve.mjs (the same server
// `npm start` uses) and drives Debian's Chromium through playwright-core. No browser is ever
// downloaded; WebGPU runs on Chromium's SwiftShader (CPU), which needs an http://localhost page.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const DIST_DIR = 'dist';

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface ServedPage {
  url: string;
  stop(): Promise<void>;
}

/** Spawns `node scripts/serve.mjs --port 0` (any free port) and waits for the URL it prints. */
export async function serveDist(): Promise<ServedPage> {
  if (!existsSync(`${DIST_DIR}/index.html`)) {
    throw new Error(`${DIST_DIR}/index.html is missing: build the page first (\`npx vite build\`; \`npm test\` does it for you).`);
  }
  const server: ChildProcess = spawn(process.execPath, ['scripts/serve.mjs', '--port', '0', '--dir', DIST_DIR], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(/http:\/\/localhost:\d+\//);
      if (match) resolve(match[0]);
    };
    server.stdout!.on('data', onData);
    server.stderr!.on('data', onData);
    server.once('exit', (code) => reject(new Error(`scripts/serve.mjs exited (code ${code}) before serving:\n${output}`)));
    setTimeout(() => reject(new Error(`scripts/serve.mjs printed no URL within 15 s:\n${output}`)), 15_000);
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (server.exitCode !== null) return resolve();
        server.once('exit', () => resolve());
        server.kill();
      }),
  };
}

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `${CHROMIUM_PATH} not found: the e2e tests drive Debian's Chromium and never download a browser. Install it with \`apt-get install -y chromium libvulkan1\`.`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** A fresh page at ~1000 px wide that records uncaught errors, so a test can assert there were none. */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await page.goto(url);
  return { page, pageErrors };
}
