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
// Verified tokens are remembered so that a caller's next requests skip the
// signature check (about 0.2 ms of CPU each, in a thread-pool round trip).
export const CACHE_SIZE = 10_000;
// A remembered token is checked again after this long even if it has not
// expired, so a key withdrawn from the JWKS stops working at most this long
// after jose's own copy of the set (kept up to 10 minutes) lets it go.
export const CACHE_SECONDS = 60;

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
  // Frozen: a cached principal is shared by every request with its token.
  return Object.freeze({ subject: claims.sub, role: claims.role, scope: Object.freeze([...scope]) });
}

/**
 * Remembers verified tokens, keyed by the token itself, so a request with a
 * token seen recently costs a map lookup. Only tokens that passed every check
 * are stored; a refusal is never cached, so nothing a caller sends without a
 * valid token takes a place. An entry lasts until the token expires (with the
 * same leeway as the check) or `seconds`, whichever is sooner, and the least
 * recently used entry makes way once `size` are held.
 */
function createTokenCache(size, seconds, now) {
  const entries = new Map();
  return {
    get(token) {
      const entry = entries.get(token);
      if (!entry) return undefined;
      entries.delete(token);
      if (now() >= entry.until) return undefined;
      entries.set(token, entry); // now the most recently used
      return entry.principal;
    },
    set(token, principal, exp) {
      if (size <= 0) return;
      // jose accepts a token while floor(now / 1000) - leeway < exp, which
      // is while now < (exp + leeway) * 1000.
      const until = Math.min((exp + LEEWAY_SECONDS) * 1000, now() + seconds * 1000);
      entries.delete(token);
      while (entries.size >= size) entries.delete(entries.keys().next().value);
      entries.set(token, { principal, until });
    },
  };
}

/**
 * A verifier for `Authorization` header values. Keys come from a PEM file, a
 * JWKS URL, or both (the file is tried first; a key rotation can publish the
 * new key in the JWKS while the old one is still in the file).
 */
export function createVerifier({
  publicKeyFile,
  jwksUrl,
  issuer,
  audience,
  cacheSize = CACHE_SIZE,
  cacheSeconds = CACHE_SECONDS,
  now = Date.now,
}) {
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
  const cache = createTokenCache(cacheSize, cacheSeconds, now);

  return async function verify(authorization) {
    if (!authorization) throw new Unauthenticated('Sign in: send Authorization: Bearer <token>.');
    const space = authorization.indexOf(' ');
    const scheme = space === -1 ? authorization : authorization.slice(0, space);
    const token = space === -1 ? '' : authorization.slice(space + 1);
    if (scheme.toLowerCase() !== 'bearer' || !token || token.length > MAX_TOKEN_BYTES) {
      throw new Unauthenticated("The Authorization header must be 'Bearer <token>'.");
    }
    const cached = cache.get(token);
    if (cached) return cached;
    let unavailable;
    for (const { key, remote } of sources) {
      let payload;
      try {
        ({ payload } = await jwtVerify(token, key, { ...options, currentDate: new Date(now()) }));
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
      if (payload.iat > now() / 1000 + LEEWAY_SECONDS) {
        throw new Unauthenticated('The token is not valid.');
      }
      const principal = checkPrincipal(payload);
      cache.set(token, principal, payload.exp);
      return principal;
    }
    if (unavailable) throw new KeysUnavailable(unavailable.message);
    throw new Unauthenticated('The token is not valid.');
  };
}
