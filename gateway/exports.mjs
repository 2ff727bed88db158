// Files a subgraph streams to a client (ledger exports): served at the same
// path here, after the edge checks (token, rate limit), passed through as they
// stream, never held whole. Only GET, only the listed paths, only to the
// subgraph that owns the path; the client's Authorization goes with it and the
// subgraph decides what the caller may see.
import { errorResponse } from './edge.mjs';

/** Path -> subgraph name. */
export const FILE_ROUTES = Object.freeze({ '/exports/payments': 'payments' });

// Only these come back to the client: what a download needs.
const PASSED_HEADERS = ['content-type', 'content-disposition', 'cache-control'];

/** The origin of each subgraph, from its GraphQL URL (override or supergraph). */
export function subgraphOrigins(supergraphSdl, overrides) {
  const origins = {};
  const pattern = /(\w+)\s*@join__graph\(\s*name:\s*"([^"]+)"\s*,\s*url:\s*"([^"]+)"\s*\)/g;
  for (const [, , name, url] of supergraphSdl.matchAll(pattern)) {
    origins[name] = new URL(overrides[name]?.location ?? url).origin;
  }
  return origins;
}

export function useFileRoutes({ origins, log }) {
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      const subgraph = FILE_ROUTES[url.pathname];
      if (!subgraph) return;
      if (request.method !== 'GET') {
        endResponse(
          errorResponse(fetchAPI, request, 405, 'METHOD_NOT_ALLOWED', 'Use GET.', { allow: 'GET' }),
        );
        return;
      }
      const origin = origins[subgraph];
      let upstream;
      try {
        upstream = await fetch(`${origin}${url.pathname}${url.search}`, {
          headers: { authorization: request.headers.get('authorization') ?? '' },
          signal: request.signal,
        });
      } catch (err) {
        log.warn(`${subgraph} did not answer a file request: ${err.message}`);
        endResponse(
          errorResponse(
            fetchAPI,
            request,
            503,
            'SERVICE_UNAVAILABLE',
            `The ${subgraph} service is unavailable. Try again shortly.`,
          ),
        );
        return;
      }
      const headers = {};
      for (const name of PASSED_HEADERS) {
        const value = upstream.headers.get(name);
        if (value !== null) headers[name] = value;
      }
      endResponse(new fetchAPI.Response(upstream.body, { status: upstream.status, headers }));
    },
  };
}
