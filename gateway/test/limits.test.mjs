// measureOperation says when its figures depend on variables, which decides
// whether the gateway may keep them for the next request of the operation, and
// honours the @cost and @listSize the subgraphs declare.
//   node --test gateway/test/
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { buildSchema, getOperationAST, parse } from 'graphql';
import { measureOperation, readCostDirectives } from '../limits.mjs';

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

describe('declared costs', () => {
  // As the composed supergraph carries them.
  const sdl = `
    directive @cost(weight: Int!) on FIELD_DEFINITION
    directive @listSize(assumedSize: Int, slicingArguments: [String!], sizedFields: [String!], requireOneSlicingArgument: Boolean = true) on FIELD_DEFINITION
    type Query {
      search(text: String!, first: Int): Page! @cost(weight: 100)
      findings: [Finding!]! @cost(weight: 20) @listSize(assumedSize: 50)
      window(months: Int): [Month!]! @listSize(slicingArguments: ["months"], assumedSize: 12)
      feed(take: Int): Feed! @listSize(slicingArguments: ["take"], sizedFields: ["items"])
      name: String!
    }
    type Page { nodes: [Item!]! }
    type Feed { items: [Item!]! total: Int! }
    type Item { id: String! tags: [String!]! }
    type Finding { kind: String! }
    type Month { label: String! }
  `;
  const schema = buildSchema(sdl);
  const costs = readCostDirectives(sdl);
  const measure = (source, variables = {}) => {
    const document = parse(source);
    return measureOperation(schema, document, getOperationAST(document), variables, costs);
  };

  test('a field costs its declared weight, each alias again', () => {
    // 100, then the page of 20 (the default) times nodes (1) and id (1).
    assert.equal(measure('{ search(text: "an") { nodes { id } } }').cost, 100 + 20 * 2);
    const aliased = `{ ${Array.from({ length: 15 }, (_, i) => `a${i}: search(text: "an", first: 100) { nodes { id } }`).join(' ')} }`;
    // Without the weight these were 15 x 201 = 3015, under the default limit of 5000.
    assert.equal(measure(aliased).cost, 15 * (100 + 100 * 2));
  });

  test('an assumed list size multiplies what is selected below', () => {
    assert.equal(measure('{ findings { kind } }').cost, 20 + 50 * 1);
  });

  test('a slicing argument sets the size, up to the page maximum', () => {
    assert.equal(measure('{ window(months: 36) { label } }').cost, 1 + 36);
    assert.equal(measure('{ window { label } }').cost, 1 + 12);
    assert.equal(measure('{ window(months: 100000) { label } }').cost, 1 + 100);
    const variable = measure('query ($m: Int) { window(months: $m) { label } }', { m: 7 });
    assert.deepEqual([variable.cost, variable.usesVariables], [1 + 7, true]);
  });

  test('sized fields carry the size, and other children do not', () => {
    // feed 1, items 1 + 30 x (id 1), total 1: only what is selected in items is multiplied.
    assert.equal(measure('{ feed(take: 30) { items { id } total } }').cost, 1 + (1 + 30 * 1) + 1);
  });

  test('fields without a declaration keep the default estimate', () => {
    assert.equal(measure('{ name }').cost, 1);
  });

  test('the supergraph declares what the services said', () => {
    const read = (path) => readFileSync(new URL(path, import.meta.url), 'utf8');
    const declared = readCostDirectives(read('../../schema/supergraph.graphql'));
    assert.equal(declared.get('Query.searchPerformers').weight, 100);
    assert.equal(declared.get('Lmc.findings').listSize.assumedSize, 50);
    assert.equal(declared.get('Lmc.recordsSummary').weight, 20);
    assert.equal(declared.get('Lmc.paymentsSummary').weight, 20);
    assert.equal(declared.get('LmcPaymentsSummary.trends').weight, 50);
    assert.equal(declared.get('PracticePayments.expected').weight, 100);
    assert.equal(declared.get('PracticePayments.expected').listSize.assumedSize, 50);
  });
});
