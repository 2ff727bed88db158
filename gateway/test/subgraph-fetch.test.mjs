// The subgraph fetch: what a subgraph receives, how answers come back
// (plain, compressed, streamed, cut short), aborts, and the requests it
// leaves to the runtime's fetch.
//   node --test gateway/test/
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { fetch, Headers, Response } from '@whatwg-node/fetch';
import { createSubgraphFetch } from '../subgraph-fetch.mjs';

describe('subgraph fetch', () => {
  let server;
  let base;
  const seen = [];
  const subgraphFetch = createSubgraphFetch({ fetch, Headers, Response });

  before(async () => {
    server = createServer((request, response) => {
      const chunks = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => {
        seen.push({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks).toString() });
        const answer = '{"data":{"ok":true}}';
        if (request.url === '/gzip') {
          response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
          response.end(gzipSync(answer));
        } else if (request.url === '/stream') {
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.end('data: {"data":{"ok":true}}\n\n');
        } else if (request.url === '/cut') {
          response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          response.write('{"data":');
          setTimeout(() => response.socket.destroy(), 20);
        } else if (request.url === '/slow') {
          setTimeout(() => response.end(answer), 2000);
        } else {
          response.writeHead(502, { 'content-type': 'application/json', 'x-extra': 'one' });
          response.end(answer);
        }
      });
    });
    await new Promise((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${server.address().port}`;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  test('sends the method, headers and body it is given, with the runtime fetch defaults', async () => {
    seen.length = 0;
    const body = JSON.stringify({ query: '{ ok }', variables: { ods: 'A81001' } });
    const response = await subgraphFetch(`${base}/graphql`, {
      method: 'POST',
      headers: { Authorization: 'Bearer abc', 'content-type': 'application/json', 'x-request-id': 'r1' },
      body,
    });
    const [received] = seen;
    assert.equal(received.method, 'POST');
    assert.equal(received.url, '/graphql');
    assert.equal(received.body, body);
    assert.equal(received.headers.authorization, 'Bearer abc');
    assert.equal(received.headers['x-request-id'], 'r1');
    assert.equal(received.headers['content-type'], 'application/json');
    assert.equal(received.headers['content-length'], String(Buffer.byteLength(body)));
    assert.equal(received.headers['accept-encoding'], 'gzip, deflate, br');
    assert.equal(received.headers['user-agent'], 'node');
    assert.equal(received.headers['transfer-encoding'], undefined);
    // What the HTTP executor reads of an answer.
    assert.equal(response.status, 502);
    assert.equal(response.statusText, 'Bad Gateway');
    assert.equal(response.ok, false);
    assert.equal(response.headers.get('content-type'), 'application/json');
    assert.equal(Object.fromEntries(response.headers.entries())['x-extra'], 'one');
    assert.equal(await response.text(), '{"data":{"ok":true}}');
  });

  test('takes headers as a Headers object too', async () => {
    seen.length = 0;
    await subgraphFetch(`${base}/graphql`, {
      method: 'POST',
      headers: new Headers({ authorization: 'Bearer xyz' }),
      body: '{}',
    });
    assert.equal(seen[0].headers.authorization, 'Bearer xyz');
  });

  test('decodes a compressed answer', async () => {
    const response = await subgraphFetch(`${base}/gzip`, { method: 'POST', body: '{}' });
    assert.deepEqual(await response.json(), { data: { ok: true } });
  });

  test('hands a streamed answer over as a Response around the stream', async () => {
    const response = await subgraphFetch(`${base}/stream`, { method: 'POST', body: '{}' });
    assert.ok(response.body, 'a body stream');
    assert.equal(response.headers.get('content-type'), 'text/event-stream');
    assert.match(await response.text(), /^data: /);
  });

  test('fails an answer cut short', async () => {
    await assert.rejects(subgraphFetch(`${base}/cut`, { method: 'POST', body: '{}' }));
  });

  test('an abort stops the request with the signal\'s reason or an abort error', async () => {
    const controller = new AbortController();
    const pending = subgraphFetch(`${base}/slow`, { method: 'POST', body: '{}', signal: controller.signal });
    setTimeout(() => controller.abort(new Error('deadline')), 50);
    const started = performance.now();
    await assert.rejects(pending);
    assert.ok(performance.now() - started < 1500, 'rejected at the abort, not at the answer');
    const aborted = AbortSignal.abort(new Error('already'));
    await assert.rejects(subgraphFetch(`${base}/graphql`, { method: 'POST', body: '{}', signal: aborted }), /already/);
  });

  test('leaves a request it does not recognise to the runtime fetch', async () => {
    const calls = [];
    const fallback = (...args) => {
      calls.push(args);
      return Promise.resolve(new Response('{}'));
    };
    const withFallback = createSubgraphFetch({ fetch: fallback, Headers, Response });
    await withFallback(new URL(`${base}/graphql`), { method: 'POST', body: '{}' });
    await withFallback(`${base}/graphql`, { method: 'POST', body: new Uint8Array([123, 125]) });
    assert.equal(calls.length, 2);
  });
});
