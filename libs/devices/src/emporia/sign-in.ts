import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { WattbusError } from '@wattbus/contracts';
import {
  AuthenticationDetails,
  CognitoUser,
  CognitoUserPool,
  type CognitoUserSession,
  type ICognitoStorage,
} from 'amazon-cognito-identity-js';
import type { Logger } from 'pino';
import { classifyDeviceError, withTimeout } from '../errors.js';

/**
 * The Cognito client's storage, kept in one JSON file per account (mode 600, in a 700 directory),
 * so an agent restart signs in with the cached refresh token instead of the password.
 */
export class TokenFile implements ICognitoStorage {
  readonly file: string;
  #items: Record<string, string> = {};

  constructor(file: string) {
    this.file = file;
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      if (typeof parsed === 'object' && parsed !== null) this.#items = parsed as Record<string, string>;
    } catch {
      // No cache yet, or an unreadable one: the next sign-in writes a new file.
    }
  }

  getItem(key: string): string | null {
    return this.#items[key] ?? null;
  }

  setItem(key: string, value: string): void {
    this.#items[key] = value;
    this.#save();
  }

  removeItem(key: string): void {
    delete this.#items[key];
    this.#save();
  }

  clear(): void {
    this.#items = {};
    this.#save();
  }

  #save(): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const temporary = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(this.#items), { mode: 0o600 });
    chmodSync(temporary, 0o600); // an existing file keeps its mode on write
    renameSync(temporary, this.file);
  }
}

export interface SignInSettings {
  email: string;
  /** Read at each sign-in, so a corrected password file is picked up without a restart. */
  password: () => string;
  cognitoUrl: string;
  userPoolId: string;
  clientId: string;
  dataDir: string;
  logger: Logger;
}

/** The token file of one account: its e-mail made safe as a file name. */
export function tokenFileOf(dataDir: string, email: string): string {
  return join(dataDir, `${email.toLowerCase().replace(/[^a-z0-9._-]+/g, '_')}.tokens.json`);
}

const WRONG_CREDENTIALS = new Set(['NotAuthorizedException', 'UserNotFoundException']);

/**
 * Signs one Emporia account in (Cognito USER_SRP_AUTH through `amazon-cognito-identity-js`) and
 * hands out its id token, which Emporia's API takes as `authtoken`. The token is renewed with the
 * refresh token before it expires, and on demand after a 401; the password is used only when no
 * refresh token works. A refused password is remembered: the same password is not tried again
 * (Cognito locks accounts that keep failing), a changed one is. Tokens are never logged.
 */
export class EmporiaSignIn {
  #settings: SignInSettings;
  #pool: CognitoUserPool;
  #pending: Promise<string> | undefined;
  #refused: { password: string; error: WattbusError } | undefined;

  constructor(settings: SignInSettings) {
    this.#settings = settings;
    this.#pool = new CognitoUserPool({
      UserPoolId: settings.userPoolId,
      ClientId: settings.clientId,
      endpoint: settings.cognitoUrl,
      Storage: new TokenFile(tokenFileOf(settings.dataDir, settings.email)),
    });
  }

  /** A valid id token; concurrent callers share one sign-in or refresh. */
  idToken(timeoutMs: number): Promise<string> {
    return this.#once(() => this.#current(timeoutMs));
  }

  /** After the API refused the token (401): a fresh one, whatever its claimed expiry. */
  renew(timeoutMs: number): Promise<string> {
    return this.#once(() => this.#current(timeoutMs, true));
  }

  #once(work: () => Promise<string>): Promise<string> {
    this.#pending ??= work().finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #current(timeoutMs: number, force = false): Promise<string> {
    const where = `Emporia sign-in of ${this.#settings.email}`;
    const user = this.#pool.getCurrentUser();
    if (user) {
      const session = await withTimeout(sessionOf(user), timeoutMs, where).catch(() => undefined);
      if (session && !force && !expiresSoon(session)) return session.getIdToken().getJwtToken();
      if (session) {
        try {
          const renewed = await withTimeout(refreshed(user, session), timeoutMs, where);
          this.#settings.logger.debug({ account: this.#settings.email }, 'Emporia token renewed');
          return renewed.getIdToken().getJwtToken();
        } catch (error) {
          // A refresh token past its life (30 days by default) or revoked: sign in anew.
          this.#settings.logger.info(
            { account: this.#settings.email, err: (error as Error).message },
            'Emporia token refresh refused; signing in with the password',
          );
        }
      }
    }
    return (await this.#signIn(timeoutMs, where)).getIdToken().getJwtToken();
  }

  async #signIn(timeoutMs: number, where: string): Promise<CognitoUserSession> {
    const password = this.#settings.password();
    if (this.#refused?.password === password) throw this.#refused.error;
    const user = new CognitoUser({
      Username: this.#settings.email,
      Pool: this.#pool,
      Storage: storageOf(this.#pool),
    });
    const details = new AuthenticationDetails({ Username: this.#settings.email, Password: password });
    const attempt = new Promise<CognitoUserSession>((resolve, reject) =>
      user.authenticateUser(details, {
        onSuccess: resolve,
        onFailure: reject,
        newPasswordRequired: () =>
          reject(new Error('the account must set a new password in the Emporia app first')),
        mfaRequired: () =>
          reject(new Error('the account asks for an MFA code, which the driver cannot give')),
        totpRequired: () =>
          reject(new Error('the account asks for an MFA code, which the driver cannot give')),
        customChallenge: () => reject(new Error('the account asks for a custom challenge')),
      }),
    );
    try {
      const session = await withTimeout(attempt, timeoutMs, where);
      this.#refused = undefined;
      this.#settings.logger.info({ account: this.#settings.email }, 'signed in to Emporia');
      return session;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code && WRONG_CREDENTIALS.has(code)) {
        const refused = new WattbusError(
          'DEVICE_AUTH_FAILED',
          `${where} failed: wrong e-mail or password (${code}); fix password_file/password_env, the driver will not retry this password`,
        );
        this.#refused = { password, error: refused };
        this.#settings.logger.error(
          { account: this.#settings.email, code },
          'Emporia sign-in failed: wrong e-mail or password',
        );
        throw refused;
      }
      if (error instanceof WattbusError) throw error;
      // The library turns every failed fetch into a plain 'Network error'.
      if (error instanceof Error && /network error/i.test(error.message)) {
        throw new WattbusError('DEVICE_UNREACHABLE', `${where}: cannot reach ${this.#settings.cognitoUrl}`);
      }
      if (!code && error instanceof Error)
        throw new WattbusError('DEVICE_AUTH_FAILED', `${where} failed: ${error.message}`);
      throw classifyDeviceError(error, where);
    }
  }
}

/** The pool's storage, which the library keeps private but which the user must share. */
function storageOf(pool: CognitoUserPool): ICognitoStorage {
  return (pool as unknown as { storage: ICognitoStorage }).storage;
}

/** Renew ahead of expiry by a quarter of the token's life, at most a minute, so no request carries a dying token. */
function expiresSoon(session: CognitoUserSession): boolean {
  const token = session.getIdToken();
  const lifetimeS = token.getExpiration() - token.getIssuedAt();
  const aheadS = Math.min(60, lifetimeS / 4);
  return Date.now() / 1000 >= token.getExpiration() - aheadS;
}

function sessionOf(user: CognitoUser): Promise<CognitoUserSession> {
  return new Promise((resolve, reject) =>
    user.getSession((error: Error | null, session: CognitoUserSession | null) =>
      error || !session ? reject(error ?? new Error('no session')) : resolve(session),
    ),
  );
}

function refreshed(user: CognitoUser, session: CognitoUserSession): Promise<CognitoUserSession> {
  return new Promise((resolve, reject) =>
    user.refreshSession(session.getRefreshToken(), (error: Error | null, renewed: CognitoUserSession) =>
      error ? reject(error) : resolve(renewed),
    ),
  );
}
