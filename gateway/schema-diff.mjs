#!/usr/bin/env node
// The changes between two composed supergraphs, as clients see them:
//
//   node gateway/schema-diff.mjs OLD.graphql NEW.graphql
//
// prints a JSON array of {type, path, criticality, message}, criticality being
// BREAKING, DANGEROUS or NON_BREAKING as GraphQL Inspector judges it. Both
// supergraphs are first reduced to their public (API) schema, without the
// join__/link__ machinery and @inaccessible elements: moving a field from one
// subgraph to another changes the supergraph but not what a client can send,
// and is not a change here. `stack/schema.py` decides what to do with them.
import { diff } from '@graphql-inspector/core';
import { transformSupergraphToPublicSchema } from '@theguild/federation-composition';
import { buildASTSchema, parse } from 'graphql';
import { readFileSync } from 'node:fs';

function publicSchema(path) {
  const supergraph = parse(readFileSync(path, 'utf8'));
  return buildASTSchema(transformSupergraphToPublicSchema(supergraph), { assumeValidSDL: true });
}

const [oldPath, newPath] = process.argv.slice(2);
if (!oldPath || !newPath) {
  process.stderr.write('usage: node gateway/schema-diff.mjs OLD.graphql NEW.graphql\n');
  process.exit(2);
}
const changes = await diff(publicSchema(oldPath), publicSchema(newPath));
const rows = changes.map((change) => ({
  type: change.type,
  path: change.path ?? null,
  criticality: change.criticality.level,
  message: change.message,
}));
process.stdout.write(`${JSON.stringify(rows, null, 1)}\n`);
