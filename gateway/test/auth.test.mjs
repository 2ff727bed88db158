// The verifier: its cache of verified tokens (hits, expiry, bounds, refusals),
// claims from standard providers, and the identity provider's key set.
//   node --test gateway/test/
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import {
  createClaimsMapping,
  createVerifier,
  LEEWAY_SECONDS,
  parseClients,
  principalFromClaims,
  Unauthenticated,
} from '../auth.mjs';

const ISSUER = 'pcse-status';
const START = Date.UTC(2026, 0, 1) / 1000; // seconds

let dir;
let publicKeyFile;
let privateKey;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'gateway-auth-'));
  const pair = generateKeyPairSync('ed25519');
  privateKey = pair.privateKey;
  publicKeyFile = join(dir, 'public.pem');
  writeFileSync(publicKeyFile, pair.publicKey.export({ type: 'spki', format: 'pem' }));
});

after(() => rmSync(dir, { recursive: true, force: true }));

function sign({ subject = 'dev-admin', iat = START, exp = START + 3600, key = privateKey } = {}) {
  return new SignJWT({ role: 'admin', scope: [] })
    .setProtectedHeader({ alg: 'EdDSA' })
    .setSubject(subject)
    .setIssuer(ISSUER)
    .setAudience(ISSUER)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key);
}

/** A verifier on a clock the test moves, in seconds since START. */
function verifierAt(options = {}) {
  const clock = { seconds: 0 };
  const verify = createVerifier({
    publicKeyFile,
    issuer: ISSUER,
    audience: ISSUER,
    now: () => (START + clock.seconds) * 1000,
    ...options,
  });
  return { clock, header: verify, verify: (token) => verify(`Bearer ${token}`) };
}

describe('the token cache', () => {
  test('a token seen before is not verified again', async () => {
    const { verify } = verifierAt();
    const token = await sign();
    const first = await verify(token);
    assert.deepEqual(first, { subject: 'dev-admin', role: 'admin', scope: [] });
    // The same object back means no second verification took place.
    assert.equal(await verify(token), first);
    assert.ok(Object.isFrozen(first) && Object.isFrozen(first.scope));
  });

  test('a cached token is refused once expired, with the same leeway', async () => {
    const { clock, verify } = verifierAt();
    const token = await sign({ exp: START + 60 });
    await verify(token);
    clock.seconds = 60 + LEEWAY_SECONDS - 1;
    await verify(token);
    clock.seconds = 60 + LEEWAY_SECONDS;
    await assert.rejects(verify(token), (err) => {
      assert.ok(err instanceof Unauthenticated);
      assert.equal(err.message, 'The token has expired.');
      return true;
    });
  });

  test('an entry is verified again after cacheSeconds', async () => {
    const { clock, verify } = verifierAt({ cacheSeconds: 60 });
    const token = await sign();
    const first = await verify(token);
    clock.seconds = 59;
    assert.equal(await verify(token), first);
    clock.seconds = 60;
    const again = await verify(token);
    assert.notEqual(again, first);
    assert.deepEqual(again, first);
  });

  test('the least recently used entry makes way', async () => {
    const { verify } = verifierAt({ cacheSize: 2 });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((subject) => sign({ subject })));
    const first = { a: await verify(a), b: await verify(b) };
    assert.equal(await verify(a), first.a); // a is now the most recent
    await verify(c); // b goes
    assert.equal(await verify(a), first.a);
    assert.notEqual(await verify(b), first.b);
  });

  test('a size of 0 turns the cache off', async () => {
    const { verify } = verifierAt({ cacheSize: 0 });
    const token = await sign();
    assert.notEqual(await verify(token), await verify(token));
  });

  test('refusals are not cached', async () => {
    const { verify } = verifierAt();
    const other = generateKeyPairSync('ed25519').privateKey;
    const forged = await sign({ key: other });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(verify(forged), { message: 'The token is not valid.' });
    }
    const future = await sign({ iat: START + LEEWAY_SECONDS + 5 });
    await assert.rejects(verify(future), { message: 'The token is not valid.' });
    await assert.rejects(verify(future), { message: 'The token is not valid.' });
  });

  test('the Authorization header is checked before the cache', async () => {
    const { header, verify } = verifierAt();
    const token = await sign();
    await verify(token);
    await assert.rejects(header(`Basic ${token}`), Unauthenticated);
    await assert.rejects(header(token), Unauthenticated);
  });
});

// The same cases as the services' (kit/tests/test_auth.py), so the gateway and
// every subgraph turn the same claims into the same caller.
const CASES = JSON.parse(
  readFileSync(new URL('../../kit/tests/data/claims-cases.json', import.meta.url), 'utf8'),
);

describe('claims from standard providers', () => {
  let clientsFile;
  before(() => {
    clientsFile = join(dir, 'clients.json');
    writeFileSync(clientsFile, JSON.stringify({ clients: CASES.clients }));
  });

  for (const testCase of CASES.cases) {
    test(testCase.name, () => {
      const options = testCase.mapping ?? {};
      const mapping = createClaimsMapping({
        roleClaim: options.roleClaim,
        scopeClaim: options.scopeClaim,
        cis2PracticeRoles: options.cis2PracticeRoles,
        clientsFile,
      });
      if (testCase.expect === null) {
        assert.throws(() => principalFromClaims(testCase.claims, mapping), Unauthenticated);
        return;
      }
      const principal = principalFromClaims(testCase.claims, mapping);
      assert.equal(principal.subject, testCase.expect.subject);
      assert.equal(principal.role, testCase.expect.role);
      assert.deepEqual([...principal.scope].sort(), [...testCase.expect.scope].sort());
    });
  }

  test('a verified token goes through the configured mapping', async () => {
    const claims = createClaimsMapping({ roleClaim: 'https://pcse.example.org/role', clientsFile });
    const { verify } = verifierAt({ claims });
    const token = await new SignJWT({ 'https://pcse.example.org/role': 'lmc', scope: 'kernow' })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setSubject('auth0|5f1')
      .setIssuer(ISSUER)
      .setAudience(ISSUER)
      .setIssuedAt(START)
      .setExpirationTime(START + 3600)
      .sign(privateKey);
    assert.deepEqual(await verify(token), { subject: 'auth0|5f1', role: 'lmc', scope: ['kernow'] });
  });

  for (const document of [
    { clients: { x: { role: 'admin' } } },
    { clients: { x: { role: 'boss' } } },
    { clients: { x: { role: 'lmc', scope: 'kernow' } } },
    { clients: { x: { role: 'lmc', subject: '' } } },
    { clients: [] },
    [],
  ]) {
    test(`a clients table that could be misread is refused: ${JSON.stringify(document)}`, () => {
      assert.throws(() => parseClients(document), /client/);
    });
  }
});

describe('the identity provider key set', () => {
  let server;
  let jwksUrl;
  let keys = [];
  let rsaPrivate;

  before(async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    rsaPrivate = pair.privateKey;
    const jwk = pair.publicKey.export({ format: 'jwk' });
    keys = [{ ...jwk, kid: 'k1', use: 'sig', alg: 'RS256' }];
    server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ keys }));
    });
    await new Promise((done) => server.listen(0, '127.0.0.1', done));
    jwksUrl = `http://127.0.0.1:${server.address().port}/jwks.json`;
  });

  after(() => server.close());

  test('a key withdrawn from the set stops working once the set is jwksMaxAgeSeconds old', async () => {
    const verify = createVerifier({
      jwksUrl,
      issuer: ISSUER,
      audience: ISSUER,
      cacheSize: 0,
      jwksMaxAgeSeconds: 1,
    });
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setSubject('u1')
      .setIssuer(ISSUER)
      .setAudience(ISSUER)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(rsaPrivate);
    assert.equal((await verify(`Bearer ${token}`)).subject, 'u1');
    const published = keys;
    keys = [];
    await new Promise((done) => setTimeout(done, 1100));
    await assert.rejects(verify(`Bearer ${token}`), Unauthenticated);
    keys = published;
  });
});
