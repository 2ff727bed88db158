#!/usr/bin/env node
// PCSE status federation gateway: serves the composed supergraph through Hive
// Gateway's runtime with the Rust query planner (@graphql-hive/router-runtime).
// Configured by environment variables only; see README.md in this folder.
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
import { getOperationAST, getVariableValues, GraphQLError, Kind, parse } from 'graphql';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];
const SHUTDOWN_GRACE_MS = 1000; // busy connections get this long to finish their response
const SHUTDOWN_DEADLINE_MS = 1800; // then the process exits regardless

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

function readPort() {
  const raw = env.GATEWAY_PORT || '4000';
  const port = Number(raw);
  // 0 is allowed on purpose: the OS picks a free port and the listening line
  // reports the real one, which is what test harnesses want.
  if (!/^\d+$/.test(raw) || port > 65535) fatal(`GATEWAY_PORT is not a port: "${raw}"`);
  return port;
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
function withExtensions(error, extensions) {
  return new GraphQLError(error.message, {
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

// Subgraph frameworks put debugging detail under these keys when run in debug
// mode; the gateway passes subgraph error extensions through verbatim, so
// they are dropped here, last thing before serialisation. A GraphQLError's
// toJSON() never includes its stack.
const LEAKY_EXTENSION_KEYS = ['stacktrace', 'stackTrace', 'stack', 'exception', 'originalError'];

function scrubError(error) {
  if (error instanceof GraphQLError) {
    const extensions = error.extensions;
    if (!extensions || !LEAKY_EXTENSION_KEYS.some((key) => key in extensions)) return error;
    const kept = { ...extensions };
    for (const key of LEAKY_EXTENSION_KEYS) delete kept[key];
    return withExtensions(error, kept);
  }
  const json = typeof error?.toJSON === 'function' ? error.toJSON() : error;
  if (!json || typeof json !== 'object') return error;
  const { stack: _stack, ...rest } = json;
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

function scrubResult(result) {
  if (!result || typeof result !== 'object' || !Array.isArray(result.errors)) return result;
  const errors = result.errors.every(isBodyFailure) ? result.errors.map(keepStatus) : result.errors;
  return { ...result, errors: errors.map(scrubError) };
}

async function* scrubStream(results) {
  for await (const result of results) yield scrubResult(result);
}

const useNoStackTraces = () => ({
  onResultProcess({ result, setResult }) {
    if (Array.isArray(result)) setResult(result.map(scrubResult));
    else if (result && typeof result[Symbol.asyncIterator] === 'function') setResult(scrubStream(result));
    else setResult(scrubResult(result));
  },
});

const host = env.GATEWAY_HOST || '127.0.0.1';
const port = readPort();
// The default is anchored to this file so the gateway starts from any working
// directory; a path given by the caller means what it means in their shell.
const supergraphPath = env.GATEWAY_SUPERGRAPH
  ? resolve(env.GATEWAY_SUPERGRAPH)
  : resolve(here, '../schema/supergraph.graphql');
const graphiql = env.GATEWAY_GRAPHIQL === '1';
const exposeQueryPlan = env.GATEWAY_EXPOSE_QUERY_PLAN === '1';

const log = new Logger({
  level: readLogLevel(),
  writers: [new ConsoleLogWriter({ console: stderrConsole, noColor: !process.stderr.isTTY })],
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

const runtime = createGatewayRuntime({
  supergraph: supergraphSdl,
  // The Rust planner; without this the runtime falls back to its JS planner.
  unifiedGraphHandler,
  transportEntries: readUrlOverrides(subgraphNames, log),
  logging: log,
  graphqlEndpoint: '/graphql',
  healthCheckEndpoint: '/healthz',
  readinessCheckEndpoint: '/readyz',
  graphiql,
  landingPage: false,
  // isDev is pinned so NODE_ENV=development cannot switch on stack traces in
  // masked errors.
  maskedErrors: { isDev: false },
  propagateHeaders: {
    fromClientToSubgraphs({ request }) {
      const authorization = request.headers.get('authorization');
      return authorization ? { authorization } : undefined;
    },
  },
  plugins: () => [
    useVariableCoercionErrors(),
    ...(exposeQueryPlan ? [useQueryPlan({ expose: true })] : []),
    useNoStackTraces(),
  ],
});

// Build the schema and the query planner now, so that once the listening
// line is printed the first request does not pay for it, and a supergraph
// that cannot be built stops the start instead of failing every request.
try {
  await runtime.getSchema();
} catch (err) {
  fatal(`supergraph ${supergraphPath} could not be loaded: ${err.message}`);
}

const server = createServer(runtime);

let shuttingDown = false;
async function shutdown(signal) {
  if (shuttingDown) process.exit(0); // a second signal means "now"
  shuttingDown = true;
  log.info(`${signal} received, shutting down`);
  setTimeout(() => process.exit(0), SHUTDOWN_DEADLINE_MS).unref();
  const closed = new Promise((done) => server.close(() => done()));
  // Keep-alive sockets whose request finishes after close() are not closed by
  // Node on their own, so sweep them until the grace period ends.
  const sweep = setInterval(() => server.closeIdleConnections(), 25);
  sweep.unref();
  server.closeIdleConnections();
  setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
  try {
    await closed;
    await runtime.dispose();
  } catch (err) {
    log.warn(`error while shutting down: ${err.message}`);
  }
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

server.once('error', (err) => fatal(`cannot listen on ${host}:${port}: ${err.message}`));
server.listen(port, host, () => {
  const address = server.address();
  const shownHost = host.includes(':') ? `[${host}]` : host;
  process.stdout.write(`gateway listening on http://${shownHost}:${address.port}/graphql\n`);
  log.info(`serving ${supergraphPath} (${subgraphNames.join(', ')}) with the Rust query planner`);
});
