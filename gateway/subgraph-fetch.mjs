// The fetch the gateway's HTTP executor uses for subgraph requests.
//
// The runtime's own fetch (@whatwg-node/node-fetch) builds a WHATWG Request
// and Headers for every subgraph request, then pipes each answer through a
// PassThrough stream with stream.pipeline (an AbortController and its
// listeners per answer) into a WHATWG Response, which the executor reads
// whole with text() anyway. For a subgraph answer of a few kilobytes that
// machinery cost more CPU than the HTTP exchange itself.
//
// This one sends the same request (method, URL, the executor's headers, the
// same accept-encoding and user-agent defaults, over Node's global keep-alive
// agent, aborted by the same signal) and reads a JSON answer whole into what
// the executor reads of it: status, statusText, headers and text(). An answer
// that streams (text/event-stream, multipart/mixed) is handed over as a
// WHATWG Response around the live stream, and a request this does not
// recognise (a body other than a string, a URL object) goes to the runtime's
// fetch unchanged.
import { request as httpRequest, STATUS_CODES } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

// As the runtime's fetch sends them, so a subgraph sees the same request.
const ACCEPT_ENCODING = 'gzip, deflate, br';
const USER_AGENT = 'node';
const STREAMED = /text\/event-stream|multipart\/mixed/i;

const DECODERS = {
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  deflate: inflateSync,
  'x-deflate': inflateSync,
  'deflate-raw': inflateRawSync,
  br: brotliDecompressSync,
};

function headerRecord(headers) {
  const record = {};
  if (!headers) return record;
  if (typeof headers.forEach === 'function' && !Array.isArray(headers)) {
    headers.forEach((value, key) => {
      record[key.toLowerCase()] = value;
    });
    return record;
  }
  const entries = Array.isArray(headers) ? headers : Object.entries(headers);
  for (const [key, value] of entries) {
    if (value !== undefined && value !== null) record[key.toLowerCase()] = String(value);
  }
  return record;
}

function responseHeaders(Headers, rawHeaders) {
  const headers = new Headers();
  for (let i = 0; i < rawHeaders.length; i += 2) headers.append(rawHeaders[i], rawHeaders[i + 1]);
  return headers;
}

/** What the executor reads of a buffered answer; headers are built when first read. */
class BufferedResponse {
  #Headers;
  #rawHeaders;
  #headers;
  #body;

  constructor(Headers, nodeResponse, body, url) {
    this.#Headers = Headers;
    this.#rawHeaders = nodeResponse.rawHeaders;
    this.#body = body;
    this.status = nodeResponse.statusCode;
    this.statusText = nodeResponse.statusMessage || STATUS_CODES[this.status] || '';
    this.ok = this.status >= 200 && this.status < 300;
    this.url = url;
    this.redirected = false;
    this.bodyUsed = false;
  }

  get headers() {
    this.#headers ??= responseHeaders(this.#Headers, this.#rawHeaders);
    return this.#headers;
  }

  async text() {
    this.bodyUsed = true;
    return this.#body.toString('utf8');
  }

  async json() {
    return JSON.parse(await this.text());
  }

  async arrayBuffer() {
    this.bodyUsed = true;
    const body = this.#body;
    return body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength);
  }
}

/**
 * A fetch for subgraph requests; `fetchAPI` is the runtime's (its fetch takes
 * what this one does not, its Headers and Response build what it returns).
 */
export function createSubgraphFetch(fetchAPI) {
  const { fetch: fallback, Headers, Response } = fetchAPI;
  return function subgraphFetch(url, init, ...rest) {
    const body = init?.body;
    if (typeof url !== 'string' || (body != null && typeof body !== 'string')) {
      return fallback(url, init, ...rest);
    }
    const signal = init.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const headers = headerRecord(init.headers);
      headers['accept-encoding'] ||= ACCEPT_ENCODING;
      headers['user-agent'] ||= USER_AGENT;
      if (body != null) headers['content-length'] = String(Buffer.byteLength(body));
      const send = url.startsWith('https:') ? httpsRequest : httpRequest;
      const request = send(url, { method: init.method || 'GET', headers, signal });
      request.once('error', reject);
      request.once('response', (response) => {
        const type = response.headers['content-type'] ?? '';
        if (STREAMED.test(type)) {
          resolve(
            new Response(Readable.toWeb(response), {
              status: response.statusCode,
              statusText: response.statusMessage,
              headers: responseHeaders(Headers, response.rawHeaders),
            }),
          );
          return;
        }
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.once('error', reject);
        response.once('close', () => {
          if (!response.complete) reject(signal?.reason ?? new Error('The subgraph closed the connection mid-answer.'));
        });
        response.once('end', () => {
          let content = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
          const encoding = response.headers['content-encoding']?.trim().toLowerCase();
          if (encoding && encoding !== 'identity') {
            const decode = DECODERS[encoding];
            if (!decode) {
              reject(new Error(`The subgraph answered in an encoding this gateway cannot read: ${encoding}`));
              return;
            }
            try {
              content = decode(content);
            } catch (err) {
              reject(err);
              return;
            }
          }
          resolve(new BufferedResponse(Headers, response, content, url));
        });
      });
      request.end(body);
    });
  };
}
