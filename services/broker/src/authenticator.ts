import { TopicPermissions } from './acl.js';
import type { AnonymousAccess, BrokerUser } from './config.js';
import { unmatchablePasswordHash, verifyPassword } from './passwords.js';

/** Who a connection is, once its CONNECT has been accepted. */
export interface Principal {
  /** Undefined for an anonymous client. */
  username: string | undefined;
  permissions: TopicPermissions;
}

export type AuthenticationResult =
  | { ok: true; principal: Principal }
  | { ok: false; reason: 'anonymous_disabled' | 'unknown_user' | 'wrong_password' };

/** Checks the credentials of a CONNECT against the configured users. */
export class Authenticator {
  readonly #usersByName: ReadonlyMap<string, BrokerUser>;
  readonly #anonymous: AnonymousAccess;
  readonly #unmatchableHash = unmatchablePasswordHash();

  constructor(users: readonly BrokerUser[], anonymous: AnonymousAccess) {
    this.#usersByName = new Map(users.map((user) => [user.username, user]));
    this.#anonymous = anonymous;
  }

  /** A CONNECT without a username is anonymous; with one, it must name a user and carry their password. */
  async authenticate(
    username: string | undefined,
    password: Uint8Array | undefined,
    clientId?: string,
  ): Promise<AuthenticationResult> {
    if (username === undefined) {
      if (!this.#anonymous.enabled) {
        return { ok: false, reason: 'anonymous_disabled' };
      }
      return {
        ok: true,
        principal: { username, permissions: new TopicPermissions(this.#anonymous, undefined, clientId) },
      };
    }
    const user = this.#usersByName.get(username);
    // Hash even for an unknown user, so response time does not tell which usernames exist.
    const matches = await verifyPassword(
      password ?? new Uint8Array(),
      user?.password_hash ?? this.#unmatchableHash,
    );
    if (user === undefined) {
      return { ok: false, reason: 'unknown_user' };
    }
    if (!matches) {
      return { ok: false, reason: 'wrong_password' };
    }
    return { ok: true, principal: { username, permissions: new TopicPermissions(user, username, clientId) } };
  }
}
