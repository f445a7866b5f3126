// Loaded into every test process (`node --import …/test-flush-exit.mjs --test --test-force-exit`).
// --test-force-exit ends each test file's process with process.exit() while results it wrote for
// the parent may still wait in stdout's queue (a busy parent reads a pipe late); the parent then
// reports fewer tests than ran, and a lost failing test's name with them (nodejs/node#64833, seen
// in our CI: a file's last 11 tests missing at exit 0). So process.exit waits for stdout to drain,
// for 5 s at most: force-exit still ends a file whose tests left a handle open.
import process from 'node:process';
import { setImmediate } from 'node:timers';

const exit = process.exit.bind(process);
process.exit = (code) => {
  if (code !== undefined) process.exitCode = code;
  const deadline = Date.now() + 5000;
  const exitOnceDrained = () => {
    if (process.stdout.writableLength === 0 || Date.now() > deadline) {
      process.stdout.write('', () => exit(process.exitCode));
    } else setImmediate(exitOnceDrained);
  };
  setImmediate(exitOnceDrained);
};
