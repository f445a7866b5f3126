#!/usr/bin/env node
// Runs every project's tests through Nx and ends with one summary line over all of them,
// since each project's test runner only reports its own counts.
import { spawn } from 'node:child_process';

const args = [
  'nx',
  'run-many',
  '-t',
  'test',
  '--parallel=1',
  '--outputStyle=stream',
  ...process.argv.slice(2),
];
const child = spawn('npx', args, {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, NX_DAEMON: 'false' },
});
let passed = 0;
let failed = 0;
let buffered = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  buffered += chunk.toString();
  const lines = buffered.split('\n');
  buffered = lines.pop() ?? '';
  for (const line of lines) {
    const match = /# (pass|fail) (\d+)\s*$/.exec(line);
    if (match?.[1] === 'pass') passed += Number(match[2]);
    if (match?.[1] === 'fail') failed += Number(match[2]);
  }
});
child.on('exit', (code) => {
  process.stdout.write(`\ntests: ${passed} passed, ${failed} failed\n`);
  process.exit(code ?? 1);
});
