#!/usr/bin/env node
// Composes the subgraph SDL files into the supergraph that server.mjs serves.
//
//   node gateway/compose.mjs [--out FILE] [NAME=SDL_PATH[=URL] ...]
//
// With no NAME=... arguments the three PCSE subgraphs are composed from
// schema/<name>.graphql. Default paths are relative to the repository root
// (the parent of this folder) so the command works from any directory;
// paths given on the command line are relative to the current directory, as
// a user typing them would expect.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'graphql';
import {
  composeServices,
  compositionHasErrors,
} from '@theguild/federation-composition';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// The URLs baked in here are only the local-development defaults; the
// gateway overrides them at run time with GATEWAY_SUBGRAPH_URL_<NAME>.
const DEFAULT_SUBGRAPHS = [
  { name: 'payments', url: 'http://127.0.0.1:4001/graphql' },
  { name: 'records', url: 'http://127.0.0.1:4002/graphql' },
  { name: 'performers', url: 'http://127.0.0.1:4003/graphql' },
].map((s) => ({ ...s, path: join(repoRoot, 'schema', `${s.name}.graphql`) }));

const USAGE =
  'usage: node gateway/compose.mjs [--out FILE] [NAME=SDL_PATH[=URL] ...]';

function fail(message) {
  process.stderr.write(`compose: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  let out = join(repoRoot, 'schema', 'supergraph.graphql');
  const subgraphs = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (arg === '--out' || arg === '-o') {
      if (i + 1 >= argv.length) fail(`${arg} needs a file path\n${USAGE}`);
      out = resolve(argv[++i]);
    } else if (arg.startsWith('--out=')) {
      out = resolve(arg.slice('--out='.length));
    } else if (arg.startsWith('-')) {
      fail(`unknown option ${arg}\n${USAGE}`);
    } else {
      // Split on the first two '=' only: a URL may carry '=' in its query.
      const first = arg.indexOf('=');
      if (first <= 0) fail(`expected NAME=SDL_PATH[=URL], got "${arg}"`);
      const name = arg.slice(0, first);
      const rest = arg.slice(first + 1);
      const second = rest.indexOf('=');
      const path = second === -1 ? rest : rest.slice(0, second);
      const url = second === -1 ? undefined : rest.slice(second + 1);
      if (!path) fail(`no SDL path for subgraph "${name}"`);
      const fallback = DEFAULT_SUBGRAPHS.find((s) => s.name === name)?.url;
      subgraphs.push({ name, path: resolve(path), url: url || fallback });
    }
  }
  return { out, subgraphs: subgraphs.length ? subgraphs : DEFAULT_SUBGRAPHS };
}

function describeError(error) {
  const code = error.extensions?.code;
  return code ? `[${code}] ${error.message}` : error.message;
}

const { out, subgraphs } = parseArgs(process.argv.slice(2));

const seen = new Set();
for (const s of subgraphs) {
  if (seen.has(s.name)) fail(`subgraph "${s.name}" given twice`);
  seen.add(s.name);
  // join__graph needs a URL; without one the supergraph is unusable.
  if (!s.url) fail(`no URL for subgraph "${s.name}" (use ${s.name}=PATH=URL)`);
}

// Sorting makes the output independent of argument order, so the same
// subgraph SDL always yields a byte-identical supergraph.
subgraphs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

const services = [];
const problems = [];
for (const s of subgraphs) {
  let sdl;
  try {
    sdl = readFileSync(s.path, 'utf8');
  } catch (err) {
    problems.push(`${s.name}: cannot read ${s.path}: ${err.code || err.message}`);
    continue;
  }
  try {
    services.push({ name: s.name, url: s.url, typeDefs: parse(sdl) });
  } catch (err) {
    problems.push(`${s.name}: ${s.path}: ${err.message}`);
  }
}
if (problems.length) fail(`cannot load subgraph SDL:\n  ${problems.join('\n  ')}`);

const result = composeServices(services);
if (compositionHasErrors(result)) {
  fail(
    `composition failed with ${result.errors.length} error(s):\n  ` +
      result.errors.map(describeError).join('\n  '),
  );
}

const supergraph = result.supergraphSdl.endsWith('\n')
  ? result.supergraphSdl
  : `${result.supergraphSdl}\n`;

// Write to a temporary file first so a running gateway or a concurrent reader
// never sees a half-written supergraph.
mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
writeFileSync(tmp, supergraph);
renameSync(tmp, out);
process.stderr.write(
  `compose: wrote ${out} (${subgraphs.map((s) => s.name).join(', ')})\n`,
);
