// Traces, metrics and logs of the gateway.
//
// Traces: Hive Gateway's OpenTelemetry plugin records a span for each HTTP
// request (continuing the caller's traceparent), the GraphQL phases, and each
// subgraph request, whose traceparent header carries the trace on to the
// service. Off unless GATEWAY_OTLP_ENDPOINT (a collector, OTLP over HTTP) or
// GATEWAY_TRACES_FILE (JSON lines, for development and tests) is set; off, no
// OpenTelemetry code is loaded.
//
// Metrics: Prometheus text on GATEWAY_METRICS_PORT's /metrics, a listener of
// its own so that the public port never serves them.
//
// Logs: one JSON object a line on stderr (GATEWAY_LOG_FORMAT=json, the
// default), with the trace and span ids of the request they belong to, and one
// line per request at info level.
import { appendFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, resolve } from 'node:path';
import usePrometheus, { createCounter, createHistogram } from '@graphql-mesh/plugin-prometheus';
import { Counter, Histogram, register } from 'prom-client';

const PROBES = new Set(['/healthz', '/readyz']);
const MAX_OPERATION_NAMES = 200;
const OPERATION_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const FILE_EXPORT_DELAY_MS = 200;
const SPAN_KINDS = ['internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_CODES = ['unset', 'ok', 'error'];
// The Prometheus plugin's metrics that are not served (see usePrometheusMetrics).
const UNUSED_METRICS = [
  'graphql_envelop_deprecated_field',
  'graphql_envelop_request',
  'graphql_envelop_request_duration',
  'graphql_envelop_request_time_summary',
  'graphql_envelop_phase_parse',
  'graphql_envelop_phase_validate',
  'graphql_envelop_phase_context',
  'graphql_envelop_phase_execute',
  'graphql_envelop_phase_subscribe',
  'graphql_envelop_execute_resolver',
  'graphql_envelop_schema_change',
  'graphql_gateway_fetch_duration',
];
// Seconds, as the services' histograms.
const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

// The trace API is loaded only with tracing on; until then there is no span.
let traceApi = null;

/** The current span's ids, or {} when there is none or tracing is off. */
export function currentTraceIds(otelContext) {
  if (!traceApi) return {};
  const span = otelContext ? traceApi.getSpan(otelContext) : traceApi.getActiveSpan();
  const ids = span?.spanContext();
  if (!ids || !traceApi.isSpanContextValid(ids)) return {};
  return { trace_id: ids.traceId, span_id: ids.spanId };
}

// Lines below warn wait this long at most before they are written.
const LOG_FLUSH_MS = 100;
// A buffer this large is written at once.
const LOG_BUFFER_BYTES = 64 * 1024;
// Written at once, after whatever waits before them: a warning or an error may
// be the last thing the process says.
const URGENT_LEVELS = new Set(['warn', 'error']);

/**
 * A log writer for @graphql-hive/logger: one JSON object a line, with trace ids.
 *
 * Info and debug lines (one per request) are gathered and written together at
 * most LOG_FLUSH_MS later, or as soon as LOG_BUFFER_BYTES are waiting: a write
 * to stderr is a synchronous system call for a file or a pipe, and one per
 * request was several per cent of the gateway's CPU. Warnings and errors are
 * written at once (after the lines before them, so the order is kept), and
 * whatever waits is written when the process exits, by a signal's shutdown or
 * a fatal error alike; only a SIGKILL can lose the last LOG_FLUSH_MS of info
 * lines.
 */
export class JsonTraceLogWriter {
  constructor(stream = process.stderr, service = 'gateway', { flushMs = LOG_FLUSH_MS } = {}) {
    this.stream = stream;
    this.service = service;
    this.flushMs = flushMs;
    this.pending = [];
    this.pendingBytes = 0;
    this.timer = null;
    this.flush = this.flush.bind(this);
    process.once('exit', this.flush);
  }

  write(level, attrs, msg) {
    const record = {
      time: new Date().toISOString(),
      level: level.toUpperCase(),
      logger: 'gateway',
      service: this.service,
      message: msg ?? '',
      ...currentTraceIds(),
    };
    if (attrs && typeof attrs === 'object' && !Array.isArray(attrs)) {
      for (const [key, value] of Object.entries(attrs)) {
        if (!(key in record)) record[key] = value instanceof Error ? String(value) : value;
      }
    } else if (attrs !== undefined && attrs !== null) {
      record.attrs = attrs;
    }
    const line = `${safeStringify(record)}\n`;
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (URGENT_LEVELS.has(level) || this.flushMs <= 0 || this.pendingBytes >= LOG_BUFFER_BYTES) {
      this.flush();
    } else if (this.timer === null) {
      this.timer = setTimeout(this.flush, this.flushMs);
      this.timer.unref();
    }
  }

  /** Writes every line still waiting, in one write. */
  flush() {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.pending.length) return;
    const chunk = this.pending.length === 1 ? this.pending[0] : this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    this.stream.write(chunk);
  }
}

function safeStringify(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return JSON.stringify({ message: String(value?.message ?? value) });
  }
}

function hrTimeToIso(time) {
  if (!Array.isArray(time)) return null;
  return new Date(time[0] * 1000 + time[1] / 1e6).toISOString();
}

/** Appends one JSON object per finished span, in the fields the services' files use. */
export class SpanFileExporter {
  constructor(path) {
    this.path = resolve(path);
    mkdirSync(dirname(this.path), { recursive: true });
  }

  export(spans, done) {
    try {
      const lines = spans.map((span) => {
        const ids = span.spanContext();
        const parent = span.parentSpanContext?.spanId ?? span.parentSpanId ?? null;
        return safeStringify({
          service: span.resource?.attributes?.['service.name'] ?? 'gateway',
          name: span.name,
          kind: SPAN_KINDS[span.kind] ?? 'internal',
          trace_id: ids.traceId,
          span_id: ids.spanId,
          parent_span_id: parent,
          start: hrTimeToIso(span.startTime),
          end: hrTimeToIso(span.endTime),
          status: STATUS_CODES[span.status?.code ?? 0],
          attributes: span.attributes ?? {},
        });
      });
      appendFileSync(this.path, `${lines.join('\n')}\n`);
      done({ code: 0 }); // ExportResultCode.SUCCESS
    } catch (error) {
      done({ code: 1, error }); // ExportResultCode.FAILED
    }
  }

  shutdown() {
    return Promise.resolve();
  }

  forceFlush() {
    return Promise.resolve();
  }
}

/** A bounded label for a client-chosen operation name, as the services do. */
export function operationLabel(name, seen) {
  if (!name) return 'anonymous';
  if (!OPERATION_NAME.test(name)) return 'invalid';
  if (seen.has(name)) return name;
  if (seen.size >= MAX_OPERATION_NAMES) return 'other';
  seen.add(name);
  return name;
}

/**
 * Set up tracing if configured. Returns the OpenTelemetry plugin factory, or
 * null with tracing off. Must run before the gateway runtime is created.
 */
export async function setupTracing({ otlpEndpoint, tracesFile, sampleRatio }) {
  if (!otlpEndpoint && !tracesFile) return null;
  const [api, { AsyncLocalStorageContextManager }, { openTelemetrySetup }, plugin, sdk] =
    await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/context-async-hooks'),
      import('@graphql-hive/plugin-opentelemetry/setup'),
      import('@graphql-hive/plugin-opentelemetry'),
      import('@opentelemetry/sdk-trace-base'),
    ]);
  traceApi = api.trace;
  const processors = [];
  if (otlpEndpoint) {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    processors.push(
      new sdk.BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${otlpEndpoint.replace(/\/$/, '')}/v1/traces` }),
      ),
    );
  }
  if (tracesFile) {
    processors.push(
      new sdk.BatchSpanProcessor(new SpanFileExporter(tracesFile), {
        scheduledDelayMillis: FILE_EXPORT_DELAY_MS,
      }),
    );
  }
  openTelemetrySetup({
    contextManager: new AsyncLocalStorageContextManager(),
    resource: { serviceName: 'gateway' },
    traces: { processors },
    samplingRate: sampleRatio,
    configureDiagLogger: false,
  });
  return (context) =>
    plugin.useOpenTelemetry({
      ...context,
      traces: {
        // Probes come every few seconds and would drown the traces that matter.
        spans: { http: ({ request }) => !PROBES.has(new URL(request.url).pathname) },
      },
    });
}

// The services' HTTP metrics, under the same names, so that one query covers
// every process. Made once: prom-client refuses a second metric of a name.
const httpRequests = new Counter({
  name: 'pcse_http_requests_total',
  help: 'HTTP requests answered, by method, route and status code.',
  labelNames: ['method', 'route', 'status'],
});
const httpDuration = new Histogram({
  name: 'pcse_http_request_duration_seconds',
  help: 'Time from receiving an HTTP request to the end of its answer.',
  labelNames: ['method', 'route'],
  buckets: LATENCY_BUCKETS,
});

function routeOf(path) {
  return path === '/graphql' || PROBES.has(path) ? path : 'other';
}

/**
 * Counts, times and logs every request: one line at info level (probes at
 * debug), with the request's trace id. `traceContextOf(request)` gives the
 * request's OpenTelemetry context, if any. Requests refused before GraphQL
 * runs (401, 413, 429) are counted too.
 */
export function useRequestLog({ log, traceContextOf }) {
  const started = new WeakMap();
  return {
    onRequest({ request }) {
      started.set(request, performance.now());
    },
    onResponse({ request, response }) {
      const start = started.get(request);
      if (start === undefined) return;
      const route = routeOf(new URL(request.url).pathname);
      const elapsed = performance.now() - start;
      httpRequests.inc({ method: request.method, route, status: String(response.status) });
      httpDuration.observe({ method: request.method, route }, elapsed / 1000);
      const level = PROBES.has(route) ? 'debug' : 'info';
      const ids = currentTraceIds(traceContextOf?.(request));
      log[level](
        {
          http_method: request.method,
          http_route: route,
          http_status: response.status,
          duration_ms: Math.round(elapsed * 100) / 100,
          ...ids,
        },
        `${request.method} ${route} ${response.status} ${elapsed.toFixed(1)} ms`,
      );
    },
  };
}

/**
 * GraphQL metrics from Hive's Prometheus plugin: operations by name, type and
 * HTTP status with their latency, errors by phase, and each subgraph request's
 * latency and errors. Operation names are the client's: only well-formed ones,
 * and the first MAX_OPERATION_NAMES of them, become labels.
 *
 * The plugin turns on every metric it knows unless told otherwise; those not
 * listed here are switched off. Several cost CPU on every request for figures
 * nobody reads: a walk of the whole operation with type information to count
 * deprecated fields, a summary of request times (a t-digest per label set),
 * a histogram per GraphQL phase, and each subgraph fetch timed twice.
 */
export function usePrometheusMetrics(context) {
  const seen = new Set();
  const name = (value) => operationLabel(value, seen);
  return usePrometheus({
    ...context,
    registry: register,
    endpoint: false, // served on the metrics port, see serveMetrics
    metrics: {
      graphql_yoga_http_duration: createHistogram({
        registry: register,
        histogram: {
          name: 'graphql_yoga_http_duration',
          help: 'Time to answer a GraphQL request, by operation, type and HTTP status.',
          labelNames: ['operationName', 'operationType', 'method', 'statusCode'],
          buckets: LATENCY_BUCKETS,
        },
        fillLabelsFn: (params, { request, response }) => ({
          operationName: name(params.operationName),
          operationType: params.operationType || 'unknown',
          method: request.method,
          statusCode: response.status,
        }),
      }),
      graphql_envelop_error_result: createCounter({
        registry: register,
        counter: {
          name: 'graphql_envelop_error_result',
          help: 'GraphQL errors, by operation and the phase that raised them.',
          labelNames: ['operationName', 'operationType', 'phase'],
        },
        fillLabelsFn: (params) => ({
          operationName: name(params.operationName),
          operationType: params.operationType || 'unknown',
          phase: params.errorPhase || 'unknown',
        }),
      }),
      graphql_gateway_subgraph_execute_duration: createHistogram({
        registry: register,
        histogram: {
          name: 'graphql_gateway_subgraph_execute_duration',
          help: 'Time of each request to a subgraph.',
          labelNames: ['subgraphName'],
          buckets: LATENCY_BUCKETS,
        },
        fillLabelsFn: ({ subgraphName }) => ({ subgraphName }),
      }),
      graphql_gateway_subgraph_execute_errors: createCounter({
        registry: register,
        counter: {
          name: 'graphql_gateway_subgraph_execute_errors',
          help: 'Errors in subgraph answers.',
          labelNames: ['subgraphName'],
        },
        fillLabelsFn: ({ subgraphName }) => ({ subgraphName }),
      }),
      ...Object.fromEntries(UNUSED_METRICS.map((metric) => [metric, false])),
    },
  });
}

/**
 * Serve prom-client's registry on its own port. Resolves with the server once
 * it listens; port 0 picks a free one (the listening line reports it).
 */
export function serveMetrics({ host, port, log }) {
  const server = createServer(async (request, response) => {
    if (request.method !== 'GET' || new URL(request.url, 'http://x').pathname !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    try {
      const body = await register.metrics();
      response.writeHead(200, { 'content-type': register.contentType }).end(body);
    } catch (error) {
      log.warn(`metrics could not be collected: ${error.message}`);
      response.writeHead(500).end();
    }
  });
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => done(server));
  });
}
