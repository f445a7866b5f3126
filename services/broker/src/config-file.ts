import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { BrokerConfigError, parseBrokerConfig, type BrokerConfig } from './config.js';

/** Reads a YAML or JSON config file (YAML is a superset of JSON, so one parser takes both). */
export async function loadBrokerConfigFile(path: string): Promise<BrokerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new BrokerConfigError([`(file): cannot read it (${describe(error)})`], path);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new BrokerConfigError([`(file): is not valid YAML or JSON (${describe(error)})`], path);
  }
  return parseBrokerConfig(value, path);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
