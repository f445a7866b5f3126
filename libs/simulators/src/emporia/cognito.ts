import { createHmac, randomBytes } from 'node:crypto';
import {
  hexOf,
  srpChallenge,
  srpSignatureValid,
  srpVerifier,
  type SrpChallenge,
  type SrpVerifier,
} from './cognito-srp.js';

/**
 * The Cognito user-pool calls `amazon-cognito-identity-js` makes to sign in and stay signed in:
 * InitiateAuth (USER_SRP_AUTH → PASSWORD_VERIFIER challenge; REFRESH_TOKEN_AUTH) and
 * RespondToAuthChallenge. Tokens are JWT-shaped (the client reads `exp` and `iat` from them);
 * the emulator's own API accepts only id tokens it issued and has not expired or revoked.
 */
export interface CognitoCounts {
  srp_sign_ins: number;
  failed_sign_ins: number;
  refreshes: number;
}

interface CognitoAnswer {
  status: number;
  body: Record<string, unknown>;
}

const notAuthorized = (message: string): CognitoAnswer => ({
  status: 400,
  body: { __type: 'NotAuthorizedException', message },
});

function base64Url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export class CognitoEmulator {
  readonly poolName: string;
  readonly clientId: string;
  /** Lifetime of issued id and access tokens, in seconds. */
  tokenLifetimeS: number;
  readonly counts: CognitoCounts = { srp_sign_ins: 0, failed_sign_ins: 0, refreshes: 0 };
  #users = new Map<string, SrpVerifier>();
  #emailOf = new Map<string, string>();
  #challenges = new Map<string, SrpChallenge>();
  #refreshTokens = new Map<string, string>();
  /** Id token → its expiry (ms); revoked ones are removed. */
  #idTokens = new Map<string, number>();
  #secret = randomBytes(32);

  constructor(options: { userPoolId: string; clientId: string; tokenLifetimeS: number }) {
    this.poolName = options.userPoolId.split('_')[1] ?? options.userPoolId;
    this.clientId = options.clientId;
    this.tokenLifetimeS = options.tokenLifetimeS;
  }

  addUser(email: string, password: string): void {
    const user = srpVerifier(this.poolName, password);
    this.#users.set(email.toLowerCase(), user);
    this.#emailOf.set(user.userIdForSrp, email.toLowerCase());
  }

  /** As if every token issued so far had expired: the API answers 401 until the client renews. */
  expireTokens(): void {
    this.#idTokens.clear();
  }

  idTokenValid(token: string | undefined): boolean {
    const expiresAt = token === undefined ? undefined : this.#idTokens.get(token);
    return expiresAt !== undefined && expiresAt > Date.now();
  }

  answer(target: string, request: Record<string, unknown>): CognitoAnswer {
    if (request.ClientId !== this.clientId) {
      return {
        status: 400,
        body: { __type: 'ResourceNotFoundException', message: 'User pool client does not exist.' },
      };
    }
    const parameters = (request.AuthParameters ?? {}) as Record<string, string>;
    if (target === 'InitiateAuth' && request.AuthFlow === 'USER_SRP_AUTH') return this.#startSrp(parameters);
    if (target === 'InitiateAuth' && request.AuthFlow === 'REFRESH_TOKEN_AUTH')
      return this.#refresh(parameters);
    if (target === 'RespondToAuthChallenge' && request.ChallengeName === 'PASSWORD_VERIFIER') {
      return this.#verify(
        String(request.Session),
        (request.ChallengeResponses ?? {}) as Record<string, string>,
      );
    }
    return {
      status: 400,
      body: { __type: 'InvalidParameterException', message: `${target} is not emulated` },
    };
  }

  #startSrp(parameters: Record<string, string>): CognitoAnswer {
    const user = this.#users.get(String(parameters.USERNAME).toLowerCase());
    const challenge = user && srpChallenge(user, String(parameters.SRP_A));
    if (!user || !challenge) {
      this.counts.failed_sign_ins++;
      return notAuthorized('Incorrect username or password.');
    }
    const session = randomBytes(24).toString('base64url');
    this.#challenges.set(session, challenge);
    return {
      status: 200,
      body: {
        ChallengeName: 'PASSWORD_VERIFIER',
        Session: session,
        ChallengeParameters: {
          SALT: hexOf(user.salt),
          SRP_B: hexOf(challenge.serverB),
          SECRET_BLOCK: challenge.secretBlock.toString('base64'),
          USER_ID_FOR_SRP: user.userIdForSrp,
          USERNAME: user.userIdForSrp,
        },
      },
    };
  }

  #verify(session: string, responses: Record<string, string>): CognitoAnswer {
    const challenge = this.#challenges.get(session);
    this.#challenges.delete(session);
    if (
      !challenge ||
      responses.USERNAME !== challenge.user.userIdForSrp ||
      !srpSignatureValid(
        this.poolName,
        challenge,
        String(responses.TIMESTAMP),
        String(responses.PASSWORD_CLAIM_SIGNATURE),
      )
    ) {
      this.counts.failed_sign_ins++;
      return notAuthorized('Incorrect username or password.');
    }
    this.counts.srp_sign_ins++;
    const refreshToken = randomBytes(48).toString('base64url');
    this.#refreshTokens.set(refreshToken, challenge.user.userIdForSrp);
    return {
      status: 200,
      body: {
        AuthenticationResult: { ...this.#tokens(challenge.user.userIdForSrp), RefreshToken: refreshToken },
      },
    };
  }

  #refresh(parameters: Record<string, string>): CognitoAnswer {
    const userId = this.#refreshTokens.get(String(parameters.REFRESH_TOKEN));
    if (!userId) return notAuthorized('Invalid Refresh Token');
    this.counts.refreshes++;
    return { status: 200, body: { AuthenticationResult: this.#tokens(userId) } };
  }

  #tokens(userId: string): Record<string, unknown> {
    const issuedAt = Math.floor(Date.now() / 1000);
    const expiresAt = issuedAt + this.tokenLifetimeS;
    const jwt = (use: string) => {
      const unsigned = `${base64Url({ alg: 'HS256', typ: 'JWT' })}.${base64Url({
        sub: userId,
        email: this.#emailOf.get(userId),
        token_use: use,
        iat: issuedAt,
        auth_time: issuedAt,
        exp: expiresAt,
        jti: randomBytes(8).toString('hex'),
      })}`;
      return `${unsigned}.${createHmac('sha256', this.#secret).update(unsigned).digest('base64url')}`;
    };
    const idToken = jwt('id');
    this.#idTokens.set(idToken, expiresAt * 1000);
    return {
      IdToken: idToken,
      AccessToken: jwt('access'),
      ExpiresIn: this.tokenLifetimeS,
      TokenType: 'Bearer',
    };
  }
}
