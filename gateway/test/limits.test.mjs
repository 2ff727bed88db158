// measureOperation says when its figures depend on variables, which decides
// whether the gateway may keep them for the next request of the operation.
//   node --test gateway/test/
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { buildSchema, getOperationAST, parse } from 'graphql';
import { measureOperation } from '../limits.mjs';

const schema = buildSchema(`
  type Query {
    practice(odsCode: String!): Practice
    practices(first: Int, filter: Filter): PracticeConnection!
  }
  input Filter { icb: String, names: [String!] }
  type Practice { odsCode: String! name: String! performers: [Performer!]! }
  type Performer { gmcNumber: String! }
  type PracticeConnection { nodes: [Practice!]! }
`);

function measure(source, variables = {}) {
  const document = parse(source);
  return measureOperation(schema, document, getOperationAST(document), variables);
}

describe('measureOperation', () => {
  test('variables outside page sizes leave the figures fixed', () => {
    const measured = measure(
      'query ($ods: String!) { practice(odsCode: $ods) { name performers { gmcNumber } } }',
      { ods: 'A81001' },
    );
    assert.deepEqual(measured, { depth: 3, aliases: 0, cost: 13, usesVariables: false });
  });

  test('a literal page size leaves the figures fixed', () => {
    const measured = measure('{ practices(first: 5) { nodes { name } } }');
    assert.equal(measured.cost, 11);
    assert.equal(measured.usesVariables, false);
  });

  test('a page size from a variable is marked', () => {
    const source = 'query ($n: Int) { practices(first: $n) { nodes { name } } }';
    assert.deepEqual(
      [measure(source, { n: 2 }), measure(source, { n: 100 })].map((m) => [m.cost, m.usesVariables]),
      [
        [5, true],
        [201, true],
      ],
    );
  });

  test('a variable anywhere in the arguments of a paged field is marked', () => {
    const measured = measure(
      'query ($icb: String) { practices(first: 5, filter: { names: ["a"], icb: $icb }) { nodes { name } } }',
      { icb: 'QE1' },
    );
    assert.equal(measured.usesVariables, true);
  });

  test('a variable in a fragment on a paged field is marked', () => {
    const measured = measure(
      'query ($n: Int) { ...F } fragment F on Query { practices(first: $n) { nodes { name } } }',
      { n: 3 },
    );
    assert.equal(measured.usesVariables, true);
  });

  test('the demo query costs what the README says, whatever the practice', () => {
    const read = (path) => readFileSync(new URL(path, import.meta.url), 'utf8');
    const supergraph = buildSchema(read('../../schema/supergraph.graphql'));
    const document = parse(read('../../demo/practice-status.graphql'));
    const measured = measureOperation(supergraph, document, getOperationAST(document), {
      ods: 'A81001',
    });
    assert.deepEqual(measured, { depth: 6, aliases: 0, cost: 196, usesVariables: false });
  });
});
