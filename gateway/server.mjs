#!/usr/bin/env node
// PCSE status federation gateway: serves the composed supergraph through Hive
// Gateway's runtime with the Rust query planner (@graphql-hive/router-runtime).
// Every GraphQL request needs a valid bearer token; operations are limited in
// depth, aliases, size and estimated cost; callers are rate limited.
// Configured by environment variables only; see README.md in this folder.
import { createGraphQLError } from '@graphql-tools/utils';
import { fetch, Headers, Response } from '@whatwg-node/fetch';
import { maskError } from 'graphql-yoga';
import { Console } from 'node:console';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConsoleLogWriter,
  createGatewayRuntime,
  Logger,
} from '@graphql-hive/gateway-runtime';
import {
  unifiedGraphHandler,
  useQueryPlan,
} from '@graphql-hive/router-runtime';
import {
  getOperationAST,
  getVariableValues,
  GraphQLError,
  Kind,
  parse,
  validate,
} from 'graphql';
import {
  CACHE_SIZE,
  createClaimsMapping,
  createVerifier,
  DEVELOPMENT_AUDIENCE,
  DEVELOPMENT_ISSUER,
  isDevelopmentKey,
  JWKS_MAX_AGE_SECONDS,
  PRODUCTION_AUDIENCE,
  PRODUCTION_ISSUER,
} from './auth.mjs';
import { createRateLimiter, useEdgeChecks } from './edge.mjs';
import { subgraphOrigins, useFileRoutes } from './exports.mjs';
import { useDataWhenExecuted } from './executed.mjs';
import { limitErrors, measureOperation, readCostDirectives, tokenLimitError } from './limits.mjs';
import { loadManifest } from './persisted.mjs';
import { createSubgraphFetch } from './subgraph-fetch.mjs';
import {
  JsonTraceLogWriter,
  serveMetrics,
  setupTracing,
  usePrometheusMetrics,
  useRequestLog,
} from './telemetry.mjs';
import { readTimeouts, upstreamTimeoutError, useDeadline } from './timeouts.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];
// After the shutdown grace (GATEWAY_SHUTDOWN_GRACE_SECONDS) the connections
// still open are closed; this long after that, the process exits regardless.
const SHUTDOWN_MARGIN_MS = 800;

// Only the listening line goes to stdout (a process manager waits for it);
// everything else, the runtime's own logs included, goes to stderr.
const stderrConsole = new Console({ stdout: process.stderr, stderr: process.stderr });

function fatal(message) {
  process.stderr.write(`gateway: ${message}\n`);
  process.exit(1);
}

function readLogLevel() {
  const raw = (env.GATEWAY_LOG_LEVEL || 'warn').toLowerCase();
  if (raw === 'silent' || raw === 'off' || raw === 'none') return false;
  if (!LOG_LEVELS.includes(raw)) {
    fatal(`GATEWAY_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, silent; got "${raw}"`);
  }
  return raw;
}

function readPort(name = 'GATEWAY_PORT', fallback = '4000') {
  const raw = env[name] || fallback;
  const port = Number(raw);
  // 0 is allowed on purpose: the OS picks a free port and the listening line
  // reports the real one, which is what test harnesses want.
  if (!/^\d+$/.test(raw) || port > 65535) fatal(`${name} is not a port: "${raw}"`);
  return port;
}

function readChoice(name, choices, fallback) {
  const raw = (env[name] || fallback).toLowerCase();
  if (!choices.includes(raw)) fatal(`${name} must be one of ${choices.join(', ')}; got "${raw}"`);
  return raw;
}

function readRatio(name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    fatal(`${name} must be a number from 0 to 1; got "${raw}"`);
  }
  return value;
}

function readUrl(name) {
  const raw = env[name];
  if (!raw) return undefined;
  try {
    const parsed = new URL(raw);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    fatal(`${name} is not an http(s) URL: "${raw}"`);
  }
  return raw;
}

// A whole number >= 0; 0 means "no limit" wherever a limit is read this way.
function readCount(name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    fatal(`${name} must be a whole number (0 turns the limit off); got "${raw}"`);
  }
  return Number(raw);
}

function readSwitch(name, fallback) {
  const raw = (env[name] ?? '').toLowerCase();
  if (raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  fatal(`${name} must be 1 or 0; got "${env[name]}"`);
}

const ENVIRONMENTS = ['development', 'test', 'production'];

// The services' <NAME>_ENVIRONMENT convention; NODE_ENV=production (set by
// the container image) counts as production so an image is never left with
// development defaults by omission.
function readEnvironment() {
  const fallback = env.NODE_ENV === 'production' ? 'production' : 'development';
  const raw = (env.GATEWAY_ENVIRONMENT || fallback).toLowerCase();
  if (!ENVIRONMENTS.includes(raw)) {
    fatal(`GATEWAY_ENVIRONMENT must be one of ${ENVIRONMENTS.join(', ')}; got "${raw}"`);
  }
  return raw;
}

function readAuth() {
  const publicKeyFile = env.GATEWAY_AUTH_PUBLIC_KEY_FILE || undefined;
  const jwksUrl = env.GATEWAY_AUTH_JWKS_URL || undefined;
  // There is no unauthenticated mode, as in the services: a gateway that
  // cannot check tokens does not start.
  if (!publicKeyFile && !jwksUrl) {
    fatal(
      'no way to verify tokens: set GATEWAY_AUTH_PUBLIC_KEY_FILE (a PEM public key) ' +
        'and/or GATEWAY_AUTH_JWKS_URL (the identity provider\'s JWKS)',
    );
  }
  if (jwksUrl) {
    try {
      const parsed = new URL(jwksUrl);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      fatal(`GATEWAY_AUTH_JWKS_URL is not an http(s) URL: "${jwksUrl}"`);
    }
  }
  const settings = {
    publicKeyFile: publicKeyFile && resolve(publicKeyFile),
    jwksUrl,
    issuer: env.GATEWAY_AUTH_ISSUER || (production ? PRODUCTION_ISSUER : DEVELOPMENT_ISSUER),
    audience: env.GATEWAY_AUTH_AUDIENCE || (production ? PRODUCTION_AUDIENCE : DEVELOPMENT_AUDIENCE),
    cacheSize: readCount('GATEWAY_AUTH_CACHE_SIZE', CACHE_SIZE),
    jwksMaxAgeSeconds: readCount('GATEWAY_AUTH_JWKS_MAX_AGE_SECONDS', JWKS_MAX_AGE_SECONDS),
  };
  if (!settings.jwksMaxAgeSeconds) fatal('GATEWAY_AUTH_JWKS_MAX_AGE_SECONDS must be at least 1');
  // Production trusts the identity provider's keys. A key file is the
  // operator's explicit choice, and the development key (the one make up
  // made, which anyone with that checkout can sign with) never.
  if (production && settings.publicKeyFile) {
    let development = false;
    try {
      development = isDevelopmentKey(settings.publicKeyFile);
    } catch (err) {
      fatal(`GATEWAY_AUTH_PUBLIC_KEY_FILE: ${err.message}`);
    }
    if (development) {
      fatal(`GATEWAY_AUTH_PUBLIC_KEY_FILE ${settings.publicKeyFile} is the development key; production never trusts it`);
    }
    if (!readSwitch('GATEWAY_AUTH_ALLOW_KEY_FILE', false)) {
      fatal(
        'production verifies tokens with the identity provider\'s keys (GATEWAY_AUTH_JWKS_URL); ' +
          'to trust GATEWAY_AUTH_PUBLIC_KEY_FILE as well, set GATEWAY_AUTH_ALLOW_KEY_FILE=1',
      );
    }
  }
  if (production && [settings.issuer, settings.audience].includes(DEVELOPMENT_ISSUER)) {
    fatal(
      `production does not accept development tokens (${DEVELOPMENT_ISSUER}); set ` +
        'GATEWAY_AUTH_ISSUER and GATEWAY_AUTH_AUDIENCE to the identity provider\'s',
    );
  }
  try {
    settings.claims = createClaimsMapping({
      roleClaim: env.GATEWAY_AUTH_ROLE_CLAIM || 'role',
      scopeClaim: env.GATEWAY_AUTH_SCOPE_CLAIM || 'scope',
      cis2PracticeRoles: env.GATEWAY_AUTH_CIS2_PRACTICE_ROLES,
      clientsFile: env.GATEWAY_AUTH_CLIENTS_FILE || undefined,
    });
  } catch (err) {
    fatal(`GATEWAY_AUTH_CLIENTS_FILE: ${err.message}`);
  }
  try {
    return { ...settings, verify: createVerifier(settings) };
  } catch (err) {
    fatal(`GATEWAY_AUTH_PUBLIC_KEY_FILE: ${err.message}`);
  }
}

// Exact origins only ("https://app.example.org"): a wildcard would let any
// site's scripts call the API with a token they got hold of.
function readCorsOrigins() {
  const origins = new Set();
  for (const item of (env.GATEWAY_CORS_ORIGINS ?? '').split(',')) {
    const value = item.trim();
    if (!value) continue;
    let origin;
    try {
      origin = new URL(value).origin;
    } catch {
      origin = 'null';
    }
    if (origin === 'null' || origin !== value.replace(/\/$/, '')) {
      fatal(`GATEWAY_CORS_ORIGINS: "${value}" is not an origin like https://app.example.org`);
    }
    origins.add(origin);
  }
  return origins;
}

function readPersistedOperations(persistedOnly) {
  const path = env.GATEWAY_PERSISTED_OPERATIONS;
  if (!path) {
    if (persistedOnly) {
      fatal('GATEWAY_PERSISTED_ONLY=1 needs GATEWAY_PERSISTED_OPERATIONS (a manifest file)');
    }
    return null;
  }
  try {
    return { path: resolve(path), operations: loadManifest(resolve(path)) };
  } catch (err) {
    fatal(`GATEWAY_PERSISTED_OPERATIONS ${path}: ${err.message}`);
  }
}

function envKeyFor(subgraphName) {
  return `GATEWAY_SUBGRAPH_URL_${subgraphName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

// Subgraph names come from the supergraph itself (join__Graph enum), so an
// override for a name that does not exist can be reported instead of being
// silently ignored.
function subgraphNamesOf(supergraphSdl) {
  const names = [];
  for (const def of parse(supergraphSdl, { noLocation: true }).definitions) {
    if (def.kind !== Kind.ENUM_TYPE_DEFINITION || def.name.value !== 'join__Graph') continue;
    for (const value of def.values ?? []) {
      for (const directive of value.directives ?? []) {
        if (directive.name.value !== 'join__graph') continue;
        const arg = directive.arguments?.find((a) => a.name.value === 'name');
        if (arg?.value.kind === Kind.STRING) names.push(arg.value.value);
      }
    }
  }
  return names;
}

// Overrides go through transportEntries, which the runtime merges over the
// entry it derives from join__graph(url:), so the supergraph text stays as
// composed and the same file serves local runs, tests and containers.
function readUrlOverrides(subgraphNames, log) {
  const transportEntries = {};
  const known = new Set();
  for (const name of subgraphNames) {
    const key = envKeyFor(name);
    known.add(key);
    const url = env[key];
    if (!url) continue;
    try {
      const parsed = new URL(url);
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      fatal(`${key} is not an http(s) URL: "${url}"`);
    }
    transportEntries[name] = { location: url };
    log.info(`subgraph ${name} -> ${url} (from ${key})`);
  }
  for (const key of Object.keys(env)) {
    if (key.startsWith('GATEWAY_SUBGRAPH_URL_') && !known.has(key)) {
      log.warn(`${key} matches no subgraph in the supergraph (${subgraphNames.join(', ')}); ignored`);
    }
  }
  return transportEntries;
}

// A copy of a GraphQL error with other extensions; it stays a GraphQLError
// because yoga only reads HTTP statuses from, and only strips its internal
// extensions (http, unexpected) off, GraphQLError instances.
function withExtensions(error, extensions, message = error.message) {
  return new GraphQLError(message, {
    nodes: error.nodes,
    source: error.source,
    positions: error.positions,
    path: error.path,
    originalError: error.originalError,
    extensions,
  });
}

// The router runtime coerces variables inside its executor and throws the
// errors, so they reach yoga without a code or an HTTP status. Coercing first
// here answers them like validation errors: 200 for application/json, 400 for
// application/graphql-response+json.
const useVariableCoercionErrors = () => ({
  onExecute({ args, setResultAndStopExecution }) {
    const operation = getOperationAST(args.document, args.operationName);
    if (!operation?.variableDefinitions?.length) return;
    const { errors } = getVariableValues(
      args.schema,
      operation.variableDefinitions,
      args.variableValues ?? {},
      { maxErrors: 50 },
    );
    if (!errors) return;
    setResultAndStopExecution({
      errors: errors.map((error) =>
        withExtensions(error, {
          ...error.extensions,
          code: 'BAD_USER_INPUT',
          http: { spec: true, status: 400 },
        }),
      ),
    });
  },
});

// graphql-js 16 words it "more that"; a corrected release may say "than".
const TOKEN_LIMIT_MESSAGE = /Document contains more th(?:at|an) \d+ tokens/;

// Depth, aliases and cost of the operations whose figures do not depend on
// their variables, by schema, document and operation name. Documents come
// from yoga's parser cache, so the same text is the same object, and the weak
// maps let an entry go with its document.
function createMeasureCache() {
  const bySchema = new WeakMap();
  return {
    get(schema, document, operationName) {
      return bySchema.get(schema)?.get(document)?.get(operationName);
    },
    set(schema, document, operationName, measured) {
      let byDocument = bySchema.get(schema);
      if (!byDocument) bySchema.set(schema, (byDocument = new WeakMap()));
      let byName = byDocument.get(document);
      if (!byName) byDocument.set(document, (byName = new Map()));
      byName.set(operationName, measured);
    },
  };
}

// Depth, aliases and estimated cost of the operation about to run, measured
// with its variables (a page size may come from one), after the variables
// have been checked. A refusal here happens before the planner, so no
// subgraph sees the operation. An operation measured without a variable in
// its figures is not measured again.
const useOperationLimits = ({ maxTokens, maxDepth, maxAliases, maxCost, costs }) => {
  const measures = createMeasureCache();
  return {
    onParse({ setParseFn }) {
      if (!maxTokens) return;
      // graphql-js stops lexing at the limit, so an oversized document costs
      // no more than maxTokens tokens of work.
      setParseFn((source, options) => {
        try {
          return parse(source, { ...options, maxTokens });
        } catch (err) {
          if (err instanceof GraphQLError && TOKEN_LIMIT_MESSAGE.test(err.message)) {
            throw tokenLimitError(maxTokens);
          }
          throw err;
        }
      });
    },
    onExecute({ args, setResultAndStopExecution }) {
      if (!maxDepth && !maxAliases && !maxCost) return;
      const operationName = args.operationName ?? null;
      let measured = measures.get(args.schema, args.document, operationName);
      if (!measured) {
        const operation = getOperationAST(args.document, operationName);
        if (!operation) return;
        let variables = {};
        if (operation.variableDefinitions?.length) {
          const { coerced } = getVariableValues(
            args.schema,
            operation.variableDefinitions,
            args.variableValues ?? {},
          );
          variables = coerced ?? {};
        }
        measured = measureOperation(args.schema, args.document, operation, variables, costs);
        if (!measured.usesVariables) {
          measures.set(args.schema, args.document, operationName, measured);
        }
      }
      const errors = limitErrors(measured, { maxDepth, maxAliases, maxCost });
      if (errors.length) setResultAndStopExecution({ errors });
    },
  };
};

// Subgraph frameworks put debugging detail under these keys when run in debug
// mode; the gateway passes subgraph error extensions through verbatim, so
// they are dropped here, last thing before serialisation. A GraphQLError's
// toJSON() never includes its stack.
const LEAKY_EXTENSION_KEYS = ['stacktrace', 'stackTrace', 'stack', 'exception', 'originalError'];

// "Did you mean ...?" hints spell out field, argument, type and enum value
// names, which lets a caller map the schema with introspection turned off.
const SUGGESTION = /\s*Did you mean [^?]*\?/g;

function withoutSuggestions(message) {
  return typeof message === 'string' ? message.replace(SUGGESTION, '') : message;
}

function scrubError(error, hideSuggestions) {
  if (error instanceof GraphQLError) {
    const extensions = error.extensions;
    const message = hideSuggestions ? withoutSuggestions(error.message) : error.message;
    const leaky = extensions && LEAKY_EXTENSION_KEYS.some((key) => key in extensions);
    if (!leaky && message === error.message) return error;
    const kept = { ...extensions };
    for (const key of LEAKY_EXTENSION_KEYS) delete kept[key];
    return withExtensions(error, kept, message);
  }
  const json = typeof error?.toJSON === 'function' ? error.toJSON() : error;
  if (!json || typeof json !== 'object') return error;
  const { stack: _stack, ...rest } = json;
  if (hideSuggestions) rest.message = withoutSuggestions(rest.message);
  if (rest.extensions && typeof rest.extensions === 'object') {
    const extensions = { ...rest.extensions };
    for (const key of LEAKY_EXTENSION_KEYS) delete extensions[key];
    rest.extensions = extensions;
  }
  return rest;
}

// For application/json yoga answers request errors with 200 unless every
// error has a non-GraphQL extensions.originalError, which it sets only for an
// unparsable body. Scrubbing that key would turn the body's 400 into a 200,
// so those errors lose the http.spec flag that allows the 200.
function isBodyFailure(error) {
  const original = error?.extensions?.originalError;
  return original != null && !(original instanceof GraphQLError);
}

function keepStatus(error) {
  const http = error.extensions?.http;
  if (!(error instanceof GraphQLError) || !http?.spec) return error;
  return withExtensions(error, { ...error.extensions, http: { ...http, spec: false } });
}

function scrubResult(result, hideSuggestions) {
  if (!result || typeof result !== 'object' || !Array.isArray(result.errors)) return result;
  const errors = result.errors.every(isBodyFailure) ? result.errors.map(keepStatus) : result.errors;
  return { ...result, errors: errors.map((error) => scrubError(error, hideSuggestions)) };
}

async function* scrubStream(results, hideSuggestions) {
  for await (const result of results) yield scrubResult(result, hideSuggestions);
}

const useNoStackTraces = ({ hideSuggestions }) => ({
  onResultProcess({ result, setResult }) {
    if (Array.isArray(result)) setResult(result.map((item) => scrubResult(item, hideSuggestions)));
    else if (result && typeof result[Symbol.asyncIterator] === 'function') {
      setResult(scrubStream(result, hideSuggestions));
    } else setResult(scrubResult(result, hideSuggestions));
  },
});

// Vary: Origin on every answer once CORS is on, so a cache never hands one
// origin's Access-Control-Allow-Origin to another.
const useVaryOrigin = () => ({
  onResponse({ response }) {
    const vary = response.headers.get('vary');
    if (!vary) response.headers.set('vary', 'Origin');
    else if (!/(^|,)\s*origin\s*(,|$)/i.test(vary)) response.headers.set('vary', `${vary}, Origin`);
  },
});

// Browsers may call from the listed origins only; everything else gets no
// CORS headers at all. No credentials: tokens go in Authorization, which the
// preflight allows explicitly.
function corsFor(request) {
  const origin = request.headers.get('origin');
  if (!origin || !corsOrigins.has(origin)) return false;
  return {
    origin,
    methods: ['GET', 'POST'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Accept'],
    exposedHeaders: ['Retry-After'],
    credentials: false,
    maxAge: 600,
  };
}

// All persisted-operation errors answer like validation errors: 200 for
// application/json, 400 for application/graphql-response+json.
function persistedError(message, code) {
  return { message, extensions: { code, http: { spec: true, status: 400 } } };
}

function persistedDocumentsOptions(operations) {
  return {
    getPersistedOperation: (hash) => operations.get(hash) ?? null,
    allowArbitraryDocuments: !persistedOnly,
    customErrors: {
      // Outside allow-list mode an unknown hash gets Apollo's APQ answer,
      // on which Apollo clients retry with the full document.
      notFound: persistedOnly
        ? persistedError(
            'No persisted operation has this hash; this gateway runs only the operations ' +
              'in its manifest.',
            'PERSISTED_QUERY_NOT_IN_LIST',
          )
        : persistedError('PersistedQueryNotFound', 'PERSISTED_QUERY_NOT_FOUND'),
      persistedQueryOnly: persistedError(
        'This gateway runs only persisted operations: send the SHA-256 of the document as ' +
          'extensions.persistedQuery.sha256Hash (with version 1) or as documentId, without query.',
        'PERSISTED_QUERY_ID_REQUIRED',
      ),
      // Neither a document nor a hash.
      keyNotFound: persistedOnly
        ? persistedError(
            'Send the SHA-256 of a persisted operation as ' +
              'extensions.persistedQuery.sha256Hash or documentId.',
            'PERSISTED_QUERY_ID_REQUIRED',
          )
        : persistedError('Must provide query string.', 'BAD_REQUEST'),
    },
  };
}

const host = env.GATEWAY_HOST || '127.0.0.1';
const port = readPort();
// The default is anchored to this file so the gateway starts from any working
// directory; a path given by the caller means what it means in their shell.
const supergraphPath = env.GATEWAY_SUPERGRAPH
  ? resolve(env.GATEWAY_SUPERGRAPH)
  : resolve(here, '../schema/supergraph.graphql');
const graphiql = env.GATEWAY_GRAPHIQL === '1';
const exposeQueryPlan = env.GATEWAY_EXPOSE_QUERY_PLAN === '1';
const environment = readEnvironment();
const production = environment === 'production';
const introspection = readSwitch('GATEWAY_INTROSPECTION', !production);
const fieldSuggestions = readSwitch('GATEWAY_FIELD_SUGGESTIONS', !production);
const limits = {
  maxDepth: readCount('GATEWAY_MAX_DEPTH', 10),
  maxAliases: readCount('GATEWAY_MAX_ALIASES', 15),
  maxTokens: readCount('GATEWAY_MAX_TOKENS', 2000),
  maxCost: readCount('GATEWAY_MAX_COST', 5000),
};
const maxBodyBytes = readCount('GATEWAY_MAX_BODY_BYTES', 64 * 1024);
const rateLimit = readCount('GATEWAY_RATE_LIMIT', 600);
const rateWindowSeconds = readCount('GATEWAY_RATE_WINDOW_SECONDS', 60);
if (rateLimit && !rateWindowSeconds) fatal('GATEWAY_RATE_WINDOW_SECONDS must be at least 1');
const corsOrigins = readCorsOrigins();
const persistedOnly = readSwitch('GATEWAY_PERSISTED_ONLY', false);
const persisted = readPersistedOperations(persistedOnly);
const auth = readAuth();
const timeouts = readTimeouts(env, fatal);
// Made once, outside the plugin factory, so the counts live as long as the
// process whatever the runtime does with its plugins.
const rateLimiter = rateLimit ? createRateLimiter(rateLimit, rateWindowSeconds) : null;

const logFormat = readChoice('GATEWAY_LOG_FORMAT', ['json', 'text'], 'json');
const metricsPort = readPort('GATEWAY_METRICS_PORT', '9464');
const metricsHost = env.GATEWAY_METRICS_HOST || host;
// Before the runtime exists: the plugin needs the tracer provider in place.
const tracing = await setupTracing({
  otlpEndpoint: readUrl('GATEWAY_OTLP_ENDPOINT'),
  tracesFile: env.GATEWAY_TRACES_FILE || undefined,
  sampleRatio: readRatio('GATEWAY_TRACE_SAMPLE_RATIO', 1),
});

const log = new Logger({
  level: readLogLevel(),
  writers: [
    logFormat === 'json'
      ? new JsonTraceLogWriter(process.stderr)
      : new ConsoleLogWriter({ console: stderrConsole, noColor: !process.stderr.isTTY }),
  ],
});

// Read the supergraph up front so a missing or broken file fails the start
// with a clear message instead of a gateway that never becomes ready.
let supergraphSdl;
let subgraphNames;
try {
  supergraphSdl = readFileSync(supergraphPath, 'utf8');
  subgraphNames = subgraphNamesOf(supergraphSdl);
} catch (err) {
  fatal(`cannot load supergraph ${supergraphPath}: ${err.message}`);
}
if (subgraphNames.length === 0) {
  fatal(`${supergraphPath} has no join__graph entries; is it a composed supergraph?`);
}
// The subgraphs' @cost and @listSize, which the cost estimate honours.
const costs = readCostDirectives(supergraphSdl);

// A subgraph that cannot be reached costs its part of the answer, not the
// whole of it: the rest still comes back (HTTP 200), with an error that says
// which service is missing and nothing of the request sent to it. Anything
// else is left to yoga's own masking.
function maskUnexpected(error, message) {
  const extensions = error?.extensions ?? error?.originalError?.extensions ?? {};
  const location = { nodes: error?.nodes, source: error?.source, positions: error?.positions, path: error?.path };
  const timedOut = upstreamTimeoutError(error, location, timeouts.upstreamTimeoutMs);
  if (timedOut) return timedOut;
  if (extensions.code === 'SUBREQUEST_HTTP_ERROR' && typeof extensions.serviceName === 'string') {
    return createGraphQLError(
      `The ${extensions.serviceName} service is unavailable; its part of this answer is missing. Try again shortly.`,
      { ...location, extensions: { code: 'SERVICE_UNAVAILABLE', serviceName: extensions.serviceName } },
    );
  }
  // Everything else as yoga would: errors raised on purpose pass, the rest are masked.
  return maskError(error, message, false);
}

const urlOverrides = readUrlOverrides(subgraphNames, log);

const runtime = createGatewayRuntime({
  supergraph: supergraphSdl,
  // The Rust planner; without this the runtime falls back to its JS planner.
  unifiedGraphHandler,
  transportEntries: {
    ...urlOverrides,
    // The HTTP executor can share one subgraph fetch among identical
    // in-flight requests, but its key includes the forwarded Authorization
    // header, so only one caller's simultaneous repeats would ever share.
    // It pays for that with a deep copy (structuredClone) of every subgraph
    // result, about 0.1 ms a request here, so it is off.
    '*': { options: { deduplicateInflightRequests: false } },
  },
  // Subgraph requests, sent as the runtime's fetch would, without its
  // per-request streams and WHATWG objects (see subgraph-fetch.mjs).
  fetchAPI: { fetch: createSubgraphFetch({ fetch, Headers, Response }) },
  // A subgraph request that takes longer is abandoned (see timeouts.mjs).
  upstreamTimeout: timeouts.upstreamTimeoutMs || undefined,
  logging: log,
  graphqlEndpoint: '/graphql',
  healthCheckEndpoint: '/healthz',
  readinessCheckEndpoint: '/readyz',
  graphiql,
  landingPage: false,
  maskedErrors: {
    // isDev is pinned so NODE_ENV=development cannot switch on stack traces in
    // masked errors.
    isDev: false,
    maskError: maskUnexpected,
  },
  propagateHeaders: {
    fromClientToSubgraphs({ request }) {
      const authorization = request.headers.get('authorization');
      return authorization ? { authorization } : undefined;
    },
  },
  disableIntrospection: !introspection,
  // Without a list, yoga's default would reflect any Origin, with
  // Access-Control-Allow-Credentials: true.
  cors: corsOrigins.size ? corsFor : false,
  persistedDocuments: persisted ? persistedDocumentsOptions(persisted.operations) : undefined,
  plugins: (context) => {
    const openTelemetry = tracing ? tracing(context) : null;
    return [
      // First, so that its spans enclose everything the others do.
      ...(openTelemetry ? [openTelemetry] : []),
      // Next, so that the deadline covers everything else, the token check included.
      ...(timeouts.requestDeadlineMs ? [useDeadline(timeouts.requestDeadlineMs)] : []),
      usePrometheusMetrics(context),
      // Before the edge checks, which may answer early: refusals are counted too.
      useRequestLog({ log, traceContextOf: (request) => openTelemetry?.getHttpContext(request) }),
      useEdgeChecks({
        verify: auth.verify,
        rateLimiter,
        maxBodyBytes,
        log,
      }),
      ...(corsOrigins.size ? [useVaryOrigin()] : []),
      // Files a subgraph streams (ledger exports), after the token and rate checks.
      useFileRoutes({ origins: subgraphOrigins(supergraphSdl, urlOverrides), log }),
      useVariableCoercionErrors(),
      useOperationLimits({ ...limits, costs }),
      // After every plugin that refuses before execution; see executed.mjs.
      useDataWhenExecuted(),
      ...(exposeQueryPlan ? [useQueryPlan({ expose: true })] : []),
      useNoStackTraces({ hideSuggestions: !fieldSuggestions }),
    ];
  },
});

// Build the schema and the query planner now, so that once the listening
// line is printed the first request does not pay for it, and a supergraph
// that cannot be built stops the start instead of failing every request.
let apiSchema;
try {
  apiSchema = await runtime.getSchema();
} catch (err) {
  fatal(`supergraph ${supergraphPath} could not be loaded: ${err.message}`);
}

// A persisted operation that no longer fits the schema fails when it is
// sent, like any invalid operation; saying so at start shows the manifest is
// stale before a client finds out.
if (persisted) {
  for (const [hash, document] of persisted.operations) {
    const errors = validate(apiSchema, parse(document));
    if (errors.length) log.warn(`persisted operation ${hash} is not valid: ${errors[0].message}`);
  }
}

const server = createServer(runtime);
let metricsServer;
try {
  metricsServer = await serveMetrics({ host: metricsHost, port: metricsPort, log });
} catch (err) {
  fatal(`cannot serve metrics on ${metricsHost}:${metricsPort}: ${err.message}`);
}

let shuttingDown = false;
async function shutdown(signal) {
  if (shuttingDown) process.exit(0); // a second signal means "now"
  shuttingDown = true;
  log.info(`${signal} received, shutting down`);
  setTimeout(() => process.exit(0), timeouts.shutdownGraceMs + SHUTDOWN_MARGIN_MS).unref();
  metricsServer.close();
  const closed = new Promise((done) => server.close(() => done()));
  // Keep-alive sockets whose request finishes after close() are not closed by
  // Node on their own, so sweep them until the grace period ends.
  const sweep = setInterval(() => server.closeIdleConnections(), 25);
  sweep.unref();
  server.closeIdleConnections();
  setTimeout(() => server.closeAllConnections(), timeouts.shutdownGraceMs).unref();
  try {
    await closed;
    await runtime.dispose();
  } catch (err) {
    log.warn(`error while shutting down: ${err.message}`);
  }
  process.exit(0);
}
const onSignal = (signal) => shutdown(signal);
// The runtime's server adapter and its transports register their own SIGTERM and
// SIGINT listeners, some only at the first request, which dispose the runtime at
// once and abort every request in flight. The gateway drains those requests itself
// within the grace, then disposes the runtime, so only its own listener may stay.
process.on('newListener', (event, listener) => {
  if ((event === 'SIGTERM' || event === 'SIGINT') && listener !== onSignal) {
    queueMicrotask(() => process.removeListener(event, listener));
  }
});
for (const event of ['SIGTERM', 'SIGINT']) process.removeAllListeners(event);
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);

server.once('error', (err) => fatal(`cannot listen on ${host}:${port}: ${err.message}`));
server.listen(port, host, () => {
  const address = server.address();
  const shownHost = host.includes(':') ? `[${host}]` : host;
  process.stdout.write(`gateway listening on http://${shownHost}:${address.port}/graphql\n`);
  const metricsAddress = metricsServer.address();
  log.info(`metrics on http://${metricsHost}:${metricsAddress.port}/metrics`);
  log.info(`serving ${supergraphPath} (${subgraphNames.join(', ')}) with the Rust query planner`);
  const keySources = [auth.publicKeyFile, auth.jwksUrl].filter(Boolean).join(' and ');
  const persistedSummary = persisted
    ? `${persisted.operations.size} from ${persisted.path}${persistedOnly ? ', only these' : ''}`
    : 'none';
  log.info(
    `environment ${environment}; tokens from ${keySources} (iss ${auth.issuer}, ` +
      `aud ${auth.audience}); introspection ${introspection ? 'on' : 'off'}; ` +
      `persisted operations ${persistedSummary}; ` +
      `CORS ${corsOrigins.size ? [...corsOrigins].join(', ') : 'off'}; ` +
      `upstream timeout ${timeouts.upstreamTimeoutMs ? `${timeouts.upstreamTimeoutMs / 1000} s` : 'off'}, ` +
      `request deadline ${timeouts.requestDeadlineMs ? `${timeouts.requestDeadlineMs / 1000} s` : 'off'}, ` +
      `shutdown grace ${timeouts.shutdownGraceMs / 1000} s`,
  );
});
