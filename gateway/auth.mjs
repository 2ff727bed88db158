// Bearer token verification at the edge. The same rules as the services'
// TokenVerifier (kit/pcse_kit/auth.py), so a token the gateway lets through is
// one every subgraph will accept too, and one it refuses never reaches them.
import { createPublicKey } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
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
// after jose's own copy of the set (kept up to JWKS_MAX_AGE_SECONDS) lets it go.
export const CACHE_SECONDS = 60;
export const JWKS_MAX_AGE_SECONDS = 600;
// Development tokens carry these; production expects neither by default and
// refuses them when configured, as the services do.
export const DEVELOPMENT_ISSUER = 'pcse-status-development';
export const DEVELOPMENT_AUDIENCE = 'pcse-status-development';
export const PRODUCTION_ISSUER = 'pcse-status';
export const PRODUCTION_AUDIENCE = 'pcse-status';
// A file of this name beside a key marks the development key pair (make up's).
export const DEVELOPMENT_KEY_MARKER = 'DEVELOPMENT-KEY';

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

/** True for a key file kept beside the development marker. */
export function isDevelopmentKey(path) {
  return existsSync(join(dirname(realpathSync(path)), DEVELOPMENT_KEY_MARKER));
}

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

// The subject, role and scope of verified claims, by the rules of the services'
// principal_from_claims (kit/pcse_kit/auth.py), tried in this order: the
// role claim; NHS staff (CIS2) national RBAC claims; a client-credentials
// client in the clients table. kit/tests/data/claims-cases.json holds the
// cases both are tested against.
export const DEFAULT_CIS2_PRACTICE_ROLES = Object.freeze(['R8000', 'R8008']);
export const MAX_SCOPE_ITEMS = 1000;
const PRACTICE_CODE = /^[A-Z][0-9]{5}$/;
const NO_ROLE = 'The token gives no role in PCSE status.';

function isNonEmptyString(value) {
  return typeof value === 'string' && value !== '';
}

function scopeValues(value) {
  let items;
  if (value === undefined || value === null) return [];
  if (typeof value === 'string') items = value.split(' ').filter(Boolean);
  else if (Array.isArray(value) && value.every(isNonEmptyString)) items = value;
  else throw new Unauthenticated("The token's scope must be a list of strings or one string.");
  if (items.length > MAX_SCOPE_ITEMS) throw new Unauthenticated("The token's scope is too long.");
  return [...new Set(items)];
}

function cis2Principal(subject, claims, mapping) {
  const roles = claims.nhsid_nrbac_roles;
  const selected = claims.selected_roleid;
  if (!Array.isArray(roles) || !isNonEmptyString(selected)) {
    throw new Unauthenticated('The token has no selected national RBAC role.');
  }
  const entry = roles.find(
    (role) => role && typeof role === 'object' && !Array.isArray(role) && role.person_roleid === selected,
  );
  if (!entry) throw new Unauthenticated("The token's selected role is not among its roles.");
  const { role_code: roleCode, org_code: orgCode } = entry;
  if (typeof roleCode !== 'string' || typeof orgCode !== 'string') throw new Unauthenticated(NO_ROLE);
  const jobRole = roleCode.split(':').at(-1);
  if (!mapping.cis2PracticeRoles.includes(jobRole) || !PRACTICE_CODE.test(orgCode)) {
    throw new Unauthenticated(NO_ROLE);
  }
  return { subject, role: 'practice', scope: [orgCode] };
}

function clientIdOf(subject, claims) {
  for (const name of ['client_id', 'azp']) {
    const client = claims[name];
    if (!isNonEmptyString(client)) continue;
    if (
      subject === client ||
      subject === `${client}@clients` ||
      claims.gty === 'client-credentials' ||
      claims.idtyp === 'app'
    ) {
      return client;
    }
  }
  return undefined;
}

/** The caller that verified `claims` describe; throws Unauthenticated. */
export function principalFromClaims(claims, mapping = DEFAULT_MAPPING) {
  const subject = claims.sub;
  if (!isNonEmptyString(subject)) throw new Unauthenticated('The token has no subject.');
  let principal;
  if (Object.hasOwn(claims, mapping.roleClaim)) {
    const role = claims[mapping.roleClaim];
    if (typeof role !== 'string' || !ROLES.includes(role)) {
      throw new Unauthenticated('The token has no valid role.');
    }
    principal = { subject, role, scope: scopeValues(claims[mapping.scopeClaim]) };
  } else if (Object.hasOwn(claims, 'nhsid_nrbac_roles')) {
    principal = cis2Principal(subject, claims, mapping);
  } else {
    const client = clientIdOf(subject, claims);
    const grant = client === undefined ? undefined : mapping.clients.get(client);
    if (!grant) throw new Unauthenticated(NO_ROLE);
    principal = { subject: grant.subject ?? client, role: grant.role, scope: [...grant.scope] };
  }
  // Frozen: a cached principal is shared by every request with its token.
  return Object.freeze({ ...principal, scope: Object.freeze(principal.scope) });
}

/** The clients table, as kit's parse_clients reads it; throws on anything it would refuse. */
export function parseClients(document) {
  if (!document || typeof document !== 'object' || Array.isArray(document)) {
    throw new Error('the clients file must be {"clients": {"<client id>": {...}}}');
  }
  const table = document.clients;
  if (!table || typeof table !== 'object' || Array.isArray(table)) {
    throw new Error('the clients file must be {"clients": {"<client id>": {...}}}');
  }
  const clients = new Map();
  for (const [clientId, entry] of Object.entries(table)) {
    if (!clientId || !entry || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new Error(`client ${clientId}: an entry must be an object`);
    }
    if (!ROLES.includes(entry.role)) throw new Error(`client ${clientId}: role must be one of ${ROLES.join(', ')}`);
    if (entry.role === 'admin') throw new Error(`client ${clientId}: a client cannot be admin`);
    const scope = entry.scope ?? [];
    if (!Array.isArray(scope) || !scope.every(isNonEmptyString)) {
      throw new Error(`client ${clientId}: scope must be a list of strings`);
    }
    if (entry.subject !== undefined && !isNonEmptyString(entry.subject)) {
      throw new Error(`client ${clientId}: subject must be a non-empty string`);
    }
    clients.set(clientId, Object.freeze({ role: entry.role, scope: [...new Set(scope)], subject: entry.subject }));
  }
  return clients;
}

/**
 * Where roles and scopes are read from: claim names, the CIS2 job roles that
 * make a practice's user (a comma-separated string; undefined for the
 * defaults, empty for none) and the clients file.
 */
export function createClaimsMapping({ roleClaim = 'role', scopeClaim = 'scope', cis2PracticeRoles, clientsFile } = {}) {
  if (!roleClaim || !scopeClaim) throw new Error('the role and scope claim names must not be empty');
  const codes =
    cis2PracticeRoles === undefined
      ? [...DEFAULT_CIS2_PRACTICE_ROLES]
      : cis2PracticeRoles.split(',').map((code) => code.trim()).filter(Boolean);
  const clients = clientsFile ? parseClients(JSON.parse(readFileSync(clientsFile, 'utf8'))) : new Map();
  return Object.freeze({ roleClaim, scopeClaim, cis2PracticeRoles: codes, clients });
}

const DEFAULT_MAPPING = createClaimsMapping();

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
  jwksMaxAgeSeconds = JWKS_MAX_AGE_SECONDS,
  claims = DEFAULT_MAPPING,
  now = Date.now,
}) {
  const sources = [];
  if (publicKeyFile) sources.push({ key: loadPublicKey(publicKeyFile), remote: false });
  if (jwksUrl) {
    // jose caches the set for jwksMaxAgeSeconds (ten minutes, as the
    // services), and fetches it again (at most every 30 s) when a token names
    // a key id it does not hold, which is how rotation shows up.
    const key = createRemoteJWKSet(new URL(jwksUrl), {
      timeoutDuration: 5000,
      cacheMaxAge: jwksMaxAgeSeconds * 1000,
    });
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
      const principal = principalFromClaims(payload, claims);
      cache.set(token, principal, payload.exp);
      return principal;
    }
    if (unavailable) throw new KeysUnavailable(unavailable.message);
    throw new Unauthenticated('The token is not valid.');
  };
}
