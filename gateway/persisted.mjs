#!/usr/bin/env node
// Persisted operations: the manifest format the gateway reads, and a
// generator for it.
//
//   node gateway/persisted.mjs [--supergraph FILE] FILE.graphql ... > manifest.json
//   node gateway/persisted.mjs --check MANIFEST.json [--supergraph FILE] FILE.graphql ...
//
// A manifest is a JSON object mapping the lowercase hex SHA-256 of a document
// to the document. Each .graphql file becomes one entry. Its text is
// normalised with graphql-js print() (comments and layout dropped), so
// re-indenting a file does not change its hash. A client sends that hash as
// extensions.persistedQuery.sha256Hash (Apollo) or as documentId.
//
// Each document is validated against the public schema of the supergraph
// (default: schema/supergraph.graphql), so a manifest never ships an
// operation the gateway would refuse. --check exits 1 when MANIFEST.json is
// not exactly what the files would generate.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildASTSchema, Kind, parse, print, validate } from 'graphql';

const here = dirname(fileURLToPath(import.meta.url));
const HASH = /^[0-9a-f]{64}$/;

export function sha256Hex(text) {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The manifest entry for one document's source text. */
export function persistedEntry(source) {
  const document = print(parse(source, { noLocation: true }));
  return [sha256Hex(document), document];
}

/**
 * The operations of a manifest file, as a Map from hash to document text.
 * Throws on anything malformed, including an entry whose key is not the hash
 * of its document: the key is what clients are told to send, so a mismatch
 * means the file was edited by hand or is corrupt.
 */
export function loadManifest(path) {
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new Error('expected a JSON object mapping sha256 hashes to documents');
  }
  const operations = new Map();
  for (const [hash, document] of Object.entries(raw)) {
    if (!HASH.test(hash)) throw new Error(`"${hash}" is not a lowercase hex SHA-256`);
    if (typeof document !== 'string') throw new Error(`the document of ${hash} is not a string`);
    if (sha256Hex(document) !== hash) {
      throw new Error(`${hash} is not the SHA-256 of its document; regenerate the manifest`);
    }
    try {
      parse(document, { noLocation: true });
    } catch (err) {
      throw new Error(`the document of ${hash} does not parse: ${err.message}`);
    }
    operations.set(hash, document);
  }
  return operations;
}

async function publicSchema(supergraphPath) {
  // Composition's own helper strips join__/link__ machinery and @inaccessible
  // parts, leaving the schema clients see.
  const { transformSupergraphToPublicSchema } = await import('@theguild/federation-composition');
  const supergraph = parse(readFileSync(supergraphPath, 'utf8'), { noLocation: true });
  return buildASTSchema(transformSupergraphToPublicSchema(supergraph));
}

function fail(message) {
  process.stderr.write(`persisted: ${message}\n`);
  process.exit(1);
}

async function main(argv) {
  let supergraph = resolve(here, '../schema/supergraph.graphql');
  let check;
  const files = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--supergraph') supergraph = resolve(argv[++i] ?? fail('--supergraph needs a file'));
    else if (arg === '--check') check = resolve(argv[++i] ?? fail('--check needs a manifest file'));
    else if (arg.startsWith('-')) fail(`unknown option ${arg}`);
    else files.push(resolve(arg));
  }
  if (files.length === 0) {
    fail('usage: node gateway/persisted.mjs [--check MANIFEST] [--supergraph FILE] FILE.graphql ...');
  }

  const schema = await publicSchema(supergraph);
  const entries = [];
  let failed = false;
  for (const file of files) {
    let entry;
    try {
      entry = persistedEntry(readFileSync(file, 'utf8'));
    } catch (err) {
      fail(`${file}: ${err.message}`);
    }
    const document = parse(entry[1]);
    const errors = validate(schema, document);
    if (!document.definitions.some((def) => def.kind === Kind.OPERATION_DEFINITION)) {
      errors.push(new Error('no operation in the file'));
    }
    for (const error of errors) {
      process.stderr.write(`persisted: ${file}: ${error.message}\n`);
      failed = true;
    }
    entries.push(entry);
  }
  if (failed) process.exit(1);

  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const text = `${JSON.stringify(Object.fromEntries(entries), null, 2)}\n`;
  if (check) {
    let current;
    try {
      current = readFileSync(check, 'utf8');
    } catch (err) {
      fail(`cannot read ${check}: ${err.message}`);
    }
    if (current !== text) fail(`${check} is out of date; regenerate it`);
    return;
  }
  process.stdout.write(text);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2));
}
