#!/usr/bin/env node
// `npm test`: builds the page (the e2e layer serves it), runs the three vitest layers
// (unit, gpu, e2e) in one run and ends with the line "N passed, N failed" over all of them.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

const resultsFile = '.vitest-results.json';
const extraArgs = process.argv.slice(2);

function run(command, args, env = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  return result.status ?? 1;
}

if (run('npx', ['vite', 'build', '--logLevel', 'warn']) !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}

rmSync(resultsFile, { force: true });
const status = run(
  'npx',
  ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${resultsFile}`, ...extraArgs],
  // Tests run the engine on the CPU (SwiftShader) unless told otherwise.
  { MOONTUNE_SWIFTSHADER: process.env.MOONTUNE_SWIFTSHADER ?? '1' },
);

let passed = 0;
let failed = 0;
if (existsSync(resultsFile)) {
  const results = JSON.parse(readFileSync(resultsFile, 'utf8'));
  passed = results.numPassedTests ?? 0;
  failed = results.numFailedTests ?? 0;
}
// A file that fails to load, or an error outside any test, fails the run without failing a
// test: count it so the closing line never reads "0 failed" for a red run.
if (status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(status === 0 && failed === 0 ? 0 : 1);
