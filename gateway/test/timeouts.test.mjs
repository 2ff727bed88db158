// Timeouts, deadline and grace settings, and data on executed results.
//   node --test gateway/test/
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphQLError } from 'graphql';
import { DEFAULTS, readTimeouts, upstreamTimeoutError } from '../timeouts.mjs';
import { useDataWhenExecuted } from '../executed.mjs';

function fatalCollector() {
  const messages = [];
  return {
    messages,
    fatal: (message) => {
      messages.push(message);
      throw new Error(message);
    },
  };
}

test('timeouts default to 15 s upstream, a 30 s deadline and a 10 s grace', () => {
  const { fatal } = fatalCollector();
  assert.deepEqual(readTimeouts({}, fatal), {
    upstreamTimeoutMs: 15000,
    requestDeadlineMs: 30000,
    shutdownGraceMs: 10000,
  });
  assert.equal(DEFAULTS.upstreamTimeoutSeconds, 15);
});

test('timeouts take decimals, and 0 turns the first two off', () => {
  const { fatal } = fatalCollector();
  const env = {
    GATEWAY_UPSTREAM_TIMEOUT_SECONDS: '0',
    GATEWAY_REQUEST_DEADLINE_SECONDS: '2.5',
    GATEWAY_SHUTDOWN_GRACE_SECONDS: '0.25',
  };
  assert.deepEqual(readTimeouts(env, fatal), {
    upstreamTimeoutMs: 0,
    requestDeadlineMs: 2500,
    shutdownGraceMs: 250,
  });
});

test('a timeout that is not a number of seconds stops the start, naming the variable', () => {
  for (const value of ['-1', '10s', 'soon', '1e3']) {
    const { fatal, messages } = fatalCollector();
    assert.throws(() => readTimeouts({ GATEWAY_REQUEST_DEADLINE_SECONDS: value }, fatal));
    assert.match(messages[0], /^GATEWAY_REQUEST_DEADLINE_SECONDS must be a number of seconds/);
  }
});

test('an upstream timeout names the service and nothing of the request sent to it', () => {
  const raw = new GraphQLError('The operation was aborted due to timeout', {
    extensions: {
      code: 'GATEWAY_TIMEOUT',
      serviceName: 'records',
      request: { url: 'http://10.0.0.7:4002/graphql', method: 'POST', body: '{"query":"..."}' },
      http: { status: 504 },
    },
  });
  const error = upstreamTimeoutError(raw, { path: ['practice'] }, 1500);
  assert.equal(error.message.startsWith('The records service did not answer within 1.5 s'), true);
  assert.deepEqual(error.extensions, { code: 'GATEWAY_TIMEOUT', serviceName: 'records' });
  assert.deepEqual(error.path, ['practice']);
  assert.equal(upstreamTimeoutError(new GraphQLError('other'), {}, 1500), null);
});

test('an executed result without data gets data: null; one with data is left alone', () => {
  const { onExecuteDone } = useDataWhenExecuted().onExecute();
  let set;
  onExecuteDone({ result: { errors: [{ message: 'refused' }] }, setResult: (r) => (set = r) });
  assert.deepEqual(set, { data: null, errors: [{ message: 'refused' }] });
  set = undefined;
  onExecuteDone({ result: { data: { a: 1 }, errors: [] }, setResult: (r) => (set = r) });
  assert.equal(set, undefined);
});
