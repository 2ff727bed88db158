import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { FILE_ROUTES, subgraphOrigins } from '../exports.mjs';

const SUPERGRAPH = `
enum join__Graph {
  PAYMENTS @join__graph(name: "payments", url: "http://127.0.0.1:4001/graphql")
  RECORDS @join__graph(name: "records", url: "http://127.0.0.1:4002/graphql")
}`;

test('file routes go to the origin of the subgraph that owns them', () => {
  assert.deepEqual(subgraphOrigins(SUPERGRAPH, {}), {
    payments: 'http://127.0.0.1:4001',
    records: 'http://127.0.0.1:4002',
  });
  assert.equal(FILE_ROUTES['/exports/payments'], 'payments');
});

test('an overridden subgraph URL is where its files come from', () => {
  const origins = subgraphOrigins(SUPERGRAPH, {
    payments: { location: 'https://payments.internal:8443/graphql' },
  });
  assert.equal(origins.payments, 'https://payments.internal:8443');
});
