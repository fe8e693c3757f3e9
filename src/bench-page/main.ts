// bench.html: the `npm run bench` table on this browser's GPU. The worker (bench.worker.ts) does
// the timing; this script shows the adapter, the options, rows as they finish, and the final
// table as copyable text and as a JSON download. ?quick=1 starts one 64³ matmul row at once
// (with and without the TF.js baseline) — what the e2e test runs.
import { speedup, type BenchRow } from '../gpu/bench/bench-row.ts';
import './bench-page.css';
import type { AdapterReport, BenchOptions, PageToWorker, WorkerToPage } from './messages.ts';

const root = document.getElementById('bench')!;
root.innerHTML = `
  <h1>moontune — WebGPU benchmarks</h1>
  <p>The kernel and model benchmarks of <code>npm run bench</code>, on this browser's GPU. Matmul rows are
  compared with TensorFlow.js's WebGPU backend on the same device.</p>
  <h2>Adapter</h2>
  <dl id="adapter"><dt>status</dt><dd>asking for a WebGPU device…</dd></dl>
  <h2>Run</h2>
  <fieldset>
    <label><input type="checkbox" id="full" /> full (model-sized) shapes</label>
    <label><input type="checkbox" id="tfjs" checked /> compare with TensorFlow.js</label>
    <label><input type="checkbox" id="matmul-only" /> matmul only</label>
    <button id="run" disabled>Run</button>
  </fieldset>
  <p id="status" role="status"></p>
  <p id="error" class="error" role="alert"></p>
  <table id="rows" hidden>
    <thead><tr><th>benchmark</th><th>ms</th><th>GFLOP/s</th><th>baseline ms</th><th>speed-up</th><th>note</th></tr></thead>
    <tbody></tbody>
  </table>
  <section id="result" hidden>
    <h2>Result</h2>
    <pre id="table"></pre>
    <p><button id="copy">Copy</button> <a id="download" download="moontune-bench.json">Download JSON</a></p>
  </section>
  <h2>Log</h2>
  <pre id="log"></pre>
`;

const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const runButton = element<HTMLButtonElement>('run');
const checkbox = (id: string) => element<HTMLInputElement>(id);
const statusLine = element('status');
const errorLine = element('error');
const rowsBody = element('rows').querySelector('tbody')!;

const params = new URLSearchParams(location.search);
const quick = params.get('quick') === '1';

let adapter: AdapterReport | undefined;
let running = false;

function showAdapter(report: AdapterReport): void {
  adapter = report;
  const entries: [string, string][] = [
    ['vendor', report.vendor || '—'],
    ['architecture', report.architecture || '—'],
    ['description', report.description || report.device || '—'],
    ['shader-f16', report.hasF16 ? 'yes' : 'no'],
    ['subgroups', report.hasSubgroups ? 'yes' : 'no'],
    ['features', report.features.join(', ') || '—'],
    ...Object.entries(report.limits).map(([name, value]): [string, string] => [name, String(value)]),
  ];
  const list = element('adapter');
  list.replaceChildren();
  for (const [term, value] of entries) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dd.dataset.field = term;
    list.append(dt, dd);
  }
}

function appendRow(row: BenchRow): void {
  element('rows').hidden = false;
  const ratio = speedup(row);
  const cells = [
    row.name,
    row.ms.toFixed(2),
    row.gflops === undefined ? '' : row.gflops.toFixed(2),
    row.baselineMs === undefined ? '' : row.baselineMs.toFixed(2),
    ratio === undefined ? '' : `${ratio.toFixed(2)}×`,
    row.note ?? '',
  ];
  const tr = document.createElement('tr');
  for (const [index, text] of cells.entries()) {
    const td = document.createElement('td');
    td.textContent = text;
    if (index === cells.length - 1) td.className = 'note';
    tr.append(td);
  }
  rowsBody.append(tr);
}

function log(line: string): void {
  element('log').textContent += `${line}\n`;
}

function finish(rows: BenchRow[], table: string, speedups: string, options: BenchOptions): void {
  const text = [adapterLine(), table, speedups].filter(Boolean).join('\n\n');
  element('table').textContent = text;
  const json = JSON.stringify({ date: new Date().toISOString(), userAgent: navigator.userAgent, adapter, options, rows }, null, 2);
  const link = element<HTMLAnchorElement>('download');
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
  element('result').hidden = false;
  statusLine.textContent = `done: ${rows.length} ${rows.length === 1 ? 'row' : 'rows'}.`;
}

function adapterLine(): string {
  if (!adapter) return '';
  const name = [adapter.vendor, adapter.architecture, adapter.description || adapter.device].filter(Boolean).join(' / ') || 'unknown';
  return `adapter: ${name} (shader-f16: ${adapter.hasF16 ? 'yes' : 'no'}, maxStorageBufferBindingSize ${adapter.limits.maxStorageBufferBindingSize})`;
}

const worker = new Worker(new URL('./bench.worker.ts', import.meta.url), { type: 'module', name: 'moontune-bench' });
let lastOptions: BenchOptions | undefined;

worker.onmessage = (event: MessageEvent<WorkerToPage>) => {
  const message = event.data;
  switch (message.type) {
    case 'adapter':
      showAdapter(message.adapter);
      runButton.disabled = false;
      if (quick) start({ full: false, withTfjs: true, matmulOnly: true, quick: true });
      break;
    case 'log':
      log(message.line);
      break;
    case 'row':
      appendRow(message.row);
      break;
    case 'done':
      running = false;
      runButton.disabled = false;
      finish(message.rows, message.table, message.speedups, lastOptions!);
      break;
    case 'error':
      running = false;
      runButton.disabled = !adapter;
      statusLine.textContent = 'stopped.';
      errorLine.textContent = message.message;
      break;
  }
};
worker.onerror = (event) => {
  errorLine.textContent = `The benchmark worker failed to start: ${event.message || 'no message'}. Reload the page; if it repeats, check the browser console.`;
};

function start(options: BenchOptions): void {
  if (running) return;
  running = true;
  lastOptions = options;
  runButton.disabled = true;
  errorLine.textContent = '';
  rowsBody.replaceChildren();
  element('result').hidden = true;
  element('log').textContent = '';
  statusLine.textContent = options.full ? 'running full shapes (this can take minutes)…' : 'running…';
  worker.postMessage({ type: 'run', options } satisfies PageToWorker);
}

runButton.addEventListener('click', () =>
  start({ full: checkbox('full').checked, withTfjs: checkbox('tfjs').checked, matmulOnly: checkbox('matmul-only').checked, quick: false }),
);
element('copy').addEventListener('click', () => void navigator.clipboard.writeText(element('table').textContent ?? ''));
