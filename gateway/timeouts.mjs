// How long the gateway waits: for one subgraph request (upstream timeout), for
// a whole client request (request deadline), and for requests in flight when
// it is told to stop (shutdown grace). Each is a setting in seconds; 0 turns
// the first two off.
//
// They nest: each service cancels an SQL statement after its own statement
// timeout (10 s by default), so a subgraph normally answers, with an error,
// before the upstream timeout (15 s); and a request whose plan makes two
// rounds of subgraph calls (the directory first, then payments and records)
// still fits within the deadline (30 s).
import { useRequestDeadline } from '@whatwg-node/server';
import { createGraphQLError } from '@graphql-tools/utils';
import { errorResponse } from './edge.mjs';

export const DEFAULTS = Object.freeze({
  upstreamTimeoutSeconds: 15,
  requestDeadlineSeconds: 30,
  shutdownGraceSeconds: 10,
});

function readSeconds(env, name, fallback, fatal) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !Number.isFinite(value)) {
    fatal(`${name} must be a number of seconds, such as 15 or 2.5; got "${raw}"`);
  }
  return value;
}

/** The three settings, in milliseconds; upstream and deadline are 0 when off. */
export function readTimeouts(env, fatal) {
  const upstream = readSeconds(env, 'GATEWAY_UPSTREAM_TIMEOUT_SECONDS', DEFAULTS.upstreamTimeoutSeconds, fatal);
  const deadline = readSeconds(env, 'GATEWAY_REQUEST_DEADLINE_SECONDS', DEFAULTS.requestDeadlineSeconds, fatal);
  const grace = readSeconds(env, 'GATEWAY_SHUTDOWN_GRACE_SECONDS', DEFAULTS.shutdownGraceSeconds, fatal);
  return {
    upstreamTimeoutMs: Math.round(upstream * 1000),
    requestDeadlineMs: Math.round(deadline * 1000),
    shutdownGraceMs: Math.round(grace * 1000),
  };
}

function seconds(ms) {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/**
 * The request deadline: past it the client gets 504 with a GraphQL error,
 * and the request's signal is aborted, which cancels the subgraph requests
 * still running for it. The runtime's own `requestDeadline` answers with a
 * plain-text 503, which is neither GraphQL nor the right status for a
 * timeout; this is the same plugin with that answer changed.
 */
export function useDeadline(deadlineMs) {
  return useRequestDeadline({
    timeout: deadlineMs,
    response: (request) =>
      errorResponse(
        globalThis,
        request,
        504,
        'GATEWAY_TIMEOUT',
        `The request took longer than ${seconds(deadlineMs)} and was stopped. Try again; ` +
          'if it keeps happening, ask for less in one request.',
        // The handler may still be writing to the subgraphs; a fresh
        // connection for the client's next request is the safe choice.
        { connection: 'close' },
      ),
  });
}

/**
 * The runtime reports a subgraph that did not answer in time as a
 * GATEWAY_TIMEOUT error carrying the subgraph request (URL, method, body) and
 * an HTTP status of 504 for the whole response. This says which service it
 * was and nothing of the request sent to it, and drops the status so the rest
 * of the answer still comes back with 200, as for a service that is down.
 * Returns null for any other error.
 */
export function upstreamTimeoutError(error, location, upstreamTimeoutMs) {
  const extensions = error?.extensions ?? error?.originalError?.extensions ?? {};
  if (extensions.code !== 'GATEWAY_TIMEOUT' || typeof extensions.serviceName !== 'string') {
    return null;
  }
  return createGraphQLError(
    `The ${extensions.serviceName} service did not answer within ${seconds(upstreamTimeoutMs)}; ` +
      'its part of this answer is missing. Try again shortly.',
    { ...location, extensions: { code: 'GATEWAY_TIMEOUT', serviceName: extensions.serviceName } },
  );
}
