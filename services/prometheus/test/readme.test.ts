import { test } from 'node:test';
import { checkConfigTables } from '@wattbus/runtime';

test('the README configuration table is the one the config schema makes (npm run docs:config)', () =>
  checkConfigTables(new URL('../README.md', import.meta.url)));
