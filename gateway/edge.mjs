// Checks made on the HTTP request before any GraphQL work: who is calling,
// whether they are over their rate, and whether the body is too large. A
// request that fails one is answered here, so nothing reaches a subgraph and
// no body is parsed for a caller who is not signed in.
import { KeysUnavailable, Unauthenticated } from './auth.mjs';

// Probes must work without a token; OPTIONS is the CORS preflight, which a
// browser sends without the Authorization header.
const OPEN_PATHS = new Set(['/healthz', '/readyz']);

/** A GraphQL-shaped error body, with the content type the client asked for. */
export function errorResponse(fetchAPI, request, status, code, message, headers = {}) {
  const accept = request.headers.get('accept') ?? '';
  const type = accept.includes('application/graphql-response+json')
    ? 'application/graphql-response+json'
    : 'application/json';
  return new fetchAPI.Response(JSON.stringify({ errors: [{ message, extensions: { code } }] }), {
    status,
    headers: { 'content-type': `${type}; charset=utf-8`, ...headers },
  });
}

/**
 * Fixed-window counters in memory, one per key. A caller can burst to twice
 * the limit across a window boundary; that is accepted for the simplicity.
 * The counts are per process: with N gateway replicas, a caller gets N times
 * the limit.
 */
export function createRateLimiter(limit, windowSeconds) {
  const windowMs = windowSeconds * 1000;
  const windows = new Map();
  // Dropping finished windows keeps memory proportional to recent callers.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [key, window] of windows) if (now - window.start >= windowMs) windows.delete(key);
  }, windowMs);
  sweep.unref();
  return {
    /** 0 if the request may go ahead, else the seconds until it may. */
    hit(key, now = Date.now()) {
      let window = windows.get(key);
      if (!window || now - window.start >= windowMs) {
        window = { start: now, count: 0 };
        windows.set(key, window);
      }
      window.count += 1;
      if (window.count <= limit) return 0;
      return Math.max(1, Math.ceil((window.start + windowMs - now) / 1000));
    },
  };
}

// Reads a body sent without Content-Length (chunked) into memory, up to
// `limit` bytes; null once it goes over.
async function readLimited(body, limit) {
  const reader = body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * The request-level checks, in order: token, rate, body size.
 *
 * verify: from createVerifier; rateLimiter: from createRateLimiter or null;
 * maxBodyBytes: 0 for no limit of ours.
 */
export function useEdgeChecks({ verify, rateLimiter, maxBodyBytes, log }) {
  const tooLarge = (fetchAPI, request) =>
    errorResponse(
      fetchAPI,
      request,
      413,
      'REQUEST_ENTITY_TOO_LARGE',
      `The request body is larger than ${maxBodyBytes} bytes.`,
      // The rest of the body is never read, so the connection cannot be
      // reused; closing it also stops Node from draining a huge upload.
      { connection: 'close' },
    );

  return {
    async onRequest({ request, url, endResponse, fetchAPI, setRequest }) {
      if (request.method === 'OPTIONS' || OPEN_PATHS.has(url.pathname)) return;

      let principal;
      try {
        principal = await verify(request.headers.get('authorization'));
      } catch (err) {
        if (err instanceof Unauthenticated) {
          log.debug(`refused a request: ${err.message}`);
          endResponse(
            errorResponse(fetchAPI, request, 401, 'UNAUTHENTICATED', err.message, {
              'www-authenticate': 'Bearer',
            }),
          );
          return;
        }
        if (err instanceof KeysUnavailable) {
          log.error(`cannot fetch the JWKS to verify tokens: ${err.message}`);
          endResponse(
            errorResponse(
              fetchAPI,
              request,
              503,
              'AUTH_UNAVAILABLE',
              'Tokens cannot be checked right now. Try again shortly.',
              { 'retry-after': '5' },
            ),
          );
          return;
        }
        throw err;
      }

      if (rateLimiter) {
        const retryAfter = rateLimiter.hit(`${principal.role}\u0000${principal.subject}`);
        if (retryAfter) {
          endResponse(
            errorResponse(
              fetchAPI,
              request,
              429,
              'RATE_LIMITED',
              `Too many requests. Try again in ${retryAfter} s.`,
              { 'retry-after': String(retryAfter) },
            ),
          );
          return;
        }
      }

      if (!maxBodyBytes) return;
      const length = request.headers.get('content-length');
      if (length !== null) {
        // Node has already refused a malformed Content-Length, and will not
        // deliver more bytes than it states, so the header can be trusted.
        if (Number(length) > maxBodyBytes) endResponse(tooLarge(fetchAPI, request));
        return;
      }
      if (!request.body || request.method === 'GET' || request.method === 'HEAD') return;
      const body = await readLimited(request.body, maxBodyBytes);
      if (body === null) {
        endResponse(tooLarge(fetchAPI, request));
        return;
      }
      setRequest(
        new fetchAPI.Request(request.url, {
          method: request.method,
          headers: request.headers,
          body,
          signal: request.signal,
        }),
      );
    },
  };
}
