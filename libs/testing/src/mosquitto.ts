import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalServer } from './local-server.js';
import { requireBinary } from './process.js';

export interface MosquittoOptions {
  /** Extra lines for mosquitto.conf (e.g. a password file or ACL). */
  extraConfig?: string;
  /** Keep sessions and queued messages on disk across stop()/start(). Default true. */
  persistence?: boolean;
  /**
   * Include the project's shipped broker tuning (mosquitto/wattbus-queues.conf), so tests
   * run with the same queue bounds as production. Default true.
   */
  useProjectTuning?: boolean;
  /**
   * User name → password. When given, anonymous clients are refused and the passwords go into a
   * password file hashed by mosquitto_passwd, as in production (mosquitto/mosquitto.conf).
   */
  users?: Record<string, string>;
  /** Lines of an acl_file (e.g. `user agent` then `topic readwrite wattbus/#`); only with `users`. */
  acl?: string;
  /** With `users`, also let clients without a user name in (the ACL's lines before any `user`). */
  anonymous?: boolean;
  /** A kept dir (config, passwords, store) and a fixed port instead of throw-away ones. */
  dir?: string;
  port?: number;
  /** Address of the listeners; default 127.0.0.1. */
  host?: string;
  /** Also MQTT over WebSocket on this port. */
  wsPort?: number;
}

/** Path of the shipped tuning snippet, relative to this file, so the harness uses what we ship. */
const PROJECT_TUNING = new URL('../../../mosquitto/wattbus-queues.conf', import.meta.url).pathname;

/** A real mosquitto 2 (Debian package) on a free loopback port with a throw-away config and store. */
export class MosquittoServer extends LocalServer {
  #options: MosquittoOptions;
  #configured = false;

  constructor(options: MosquittoOptions = {}) {
    super('mosquitto', 'mosquitto', 'wattbus-mosquitto-', { dir: options.dir, port: options.port });
    this.#options = options;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  protected configure(port: number): string[] {
    const file = join(this.dir, 'mosquitto.conf');
    if (!this.#configured) {
      this.#writeUsers();
      writeFileSync(file, this.#config(port));
      this.#configured = true;
    }
    return ['-c', file];
  }

  /** The password file (plain `user:password` lines, then hashed in place) and the ACL file. */
  #writeUsers(): void {
    const users = this.#options.users;
    if (!users) return;
    const passwords = join(this.dir, 'passwd');
    const lines = Object.entries(users).map(([user, password]) => `${user}:${password}\n`);
    writeFileSync(passwords, lines.join(''), { mode: 0o600 });
    execFileSync(requireBinary('mosquitto_passwd', 'mosquitto'), ['-U', passwords]);
    if (this.#options.acl !== undefined) writeFileSync(join(this.dir, 'acl'), `${this.#options.acl}\n`);
  }

  #config(port: number): string {
    const persistence = this.#options.persistence ?? true;
    const tuning =
      (this.#options.useProjectTuning ?? true) && existsSync(PROJECT_TUNING)
        ? readFileSync(PROJECT_TUNING, 'utf8')
        : '';
    return [
      // Running as root, mosquitto would otherwise drop to a user that cannot write our temp dir.
      'user root',
      'per_listener_settings false',
      `listener ${port} ${this.#options.host ?? '127.0.0.1'}`,
      ...(this.#options.wsPort === undefined
        ? []
        : [`listener ${this.#options.wsPort} ${this.#options.host ?? '127.0.0.1'}`, 'protocol websockets']),
      ...(this.#options.users
        ? [
            `allow_anonymous ${this.#options.anonymous === true}`,
            `password_file ${join(this.dir, 'passwd')}`,
            ...(this.#options.acl === undefined ? [] : [`acl_file ${join(this.dir, 'acl')}`]),
          ]
        : ['allow_anonymous true']),
      `persistence ${persistence}`,
      `persistence_location ${this.dir}/`,
      'autosave_interval 1',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      tuning,
      this.#options.extraConfig ?? '',
    ].join('\n');
  }
}

export async function startMosquitto(options: MosquittoOptions = {}): Promise<MosquittoServer> {
  return new MosquittoServer(options).start();
}
