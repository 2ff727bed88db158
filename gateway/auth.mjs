// Bearer token verification at the edge. The same rules as the services'
// TokenVerifier (kit/pcse_kit/auth.py), so a token the gateway lets through is
// one every subgraph will accept too, and one it refuses never reaches them.
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, jwtVerify } from 'jose';

export const ALGORITHMS = ['EdDSA', 'ES256', 'RS256'];
export const LEEWAY_SECONDS = 30;
export const MAX_TOKEN_BYTES = 8192;
export const ROLES = ['practice', 'lmc', 'accountant', 'operator', 'admin'];

// The key types that can verify one of ALGORITHMS; anything else in the PEM
// file is a configuration mistake better reported at start than per request.
const KEY_TYPES = new Set(['ed25519', 'ec', 'rsa']);

export class Unauthenticated extends Error {}

/** The JWKS could not be fetched, so no token can be checked right now. */
export class KeysUnavailable extends Error {}

// jose error codes that condemn the token whatever the key.
const TOKEN_ERRORS = new Set([
  'ERR_JWS_INVALID',
  'ERR_JWT_INVALID',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JOSE_ALG_NOT_ALLOWED',
]);
// jose error codes that only say this key is not the signer: try the next.
// ERR_JOSE_NOT_SUPPORTED is what a key of another type (an Ed25519 key for
// an ES256 token) produces.
const OTHER_KEY_ERRORS = new Set([
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
  'ERR_JOSE_NOT_SUPPORTED',
]);

function loadPublicKey(path) {
  let pem;
  let key;
  try {
    pem = readFileSync(path, 'utf8');
    key = createPublicKey(pem);
  } catch (err) {
    throw new Error(`cannot read a PEM public key from ${path}: ${err.message}`);
  }
  // createPublicKey would happily derive the public half of a private key;
  // a signing key has no business on the gateway, so say so instead.
  if (pem.includes('PRIVATE KEY')) {
    throw new Error(`${path} holds a private key; give the gateway the public key only`);
  }
  if (!KEY_TYPES.has(key.asymmetricKeyType)) {
    throw new Error(`${path} holds a ${key.asymmetricKeyType} key; expected Ed25519, EC P-256 or RSA`);
  }
  return key;
}

function checkPrincipal(claims) {
  if (typeof claims.sub !== 'string' || claims.sub === '') {
    throw new Unauthenticated('The token has no subject.');
  }
  if (!ROLES.includes(claims.role)) throw new Unauthenticated('The token has no valid role.');
  const scope = claims.scope ?? [];
  if (!Array.isArray(scope) || !scope.every((item) => typeof item === 'string')) {
    throw new Unauthenticated("The token's scope must be a list of strings.");
  }
  return { subject: claims.sub, role: claims.role, scope };
}

/**
 * A verifier for `Authorization` header values. Keys come from a PEM file, a
 * JWKS URL, or both (the file is tried first; a key rotation can publish the
 * new key in the JWKS while the old one is still in the file).
 */
export function createVerifier({ publicKeyFile, jwksUrl, issuer, audience }) {
  const sources = [];
  if (publicKeyFile) sources.push({ key: loadPublicKey(publicKeyFile), remote: false });
  if (jwksUrl) {
    // jose caches the set, and fetches it again (at most every 30 s) when a
    // token names a key id it does not hold, which is how rotation shows up.
    const key = createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 5000 });
    sources.push({ key, remote: true });
  }
  if (sources.length === 0) throw new Error('a token verifier needs a public key file or a JWKS URL');

  const options = {
    issuer,
    audience,
    algorithms: ALGORITHMS,
    clockTolerance: LEEWAY_SECONDS,
    requiredClaims: ['exp', 'iat', 'sub', 'iss', 'aud'],
  };

  return async function verify(authorization) {
    if (!authorization) throw new Unauthenticated('Sign in: send Authorization: Bearer <token>.');
    const space = authorization.indexOf(' ');
    const scheme = space === -1 ? authorization : authorization.slice(0, space);
    const token = space === -1 ? '' : authorization.slice(space + 1);
    if (scheme.toLowerCase() !== 'bearer' || !token || token.length > MAX_TOKEN_BYTES) {
      throw new Unauthenticated("The Authorization header must be 'Bearer <token>'.");
    }
    let unavailable;
    for (const { key, remote } of sources) {
      let payload;
      try {
        ({ payload } = await jwtVerify(token, key, options));
      } catch (err) {
        if (err?.code === 'ERR_JWT_EXPIRED') throw new Unauthenticated('The token has expired.');
        if (TOKEN_ERRORS.has(err?.code)) throw new Unauthenticated('The token is not valid.');
        if (OTHER_KEY_ERRORS.has(err?.code)) continue;
        // What is left is the key set itself failing (unreachable, timed
        // out, not a JWKS): not the caller's fault, so not a 401.
        if (remote) {
          unavailable = err;
          continue;
        }
        throw new Unauthenticated('The token is not valid.');
      }
      // jose accepts an iat in the future; PyJWT, which the services use, does not.
      if (payload.iat > Date.now() / 1000 + LEEWAY_SECONDS) {
        throw new Unauthenticated('The token is not valid.');
      }
      return checkPrincipal(payload);
    }
    if (unavailable) throw new KeysUnavailable(unavailable.message);
    throw new Unauthenticated('The token is not valid.');
  };
}
