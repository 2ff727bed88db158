// The JSON log writer: request lines gathered into one write, warnings and
// errors at once and in order, nothing left behind at exit.
//   node --test gateway/test/
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { JsonTraceLogWriter } from '../telemetry.mjs';

function recorder() {
  const writes = [];
  return { writes, write: (chunk) => writes.push(chunk) };
}

const lines = (writes) => writes.join('').trimEnd().split('\n').map((l) => JSON.parse(l));

test('info lines wait and go out together, within the flush delay', async () => {
  const stream = recorder();
  const writer = new JsonTraceLogWriter(stream, 'gateway', { flushMs: 20 });
  writer.write('info', { http_status: 200 }, 'POST /graphql 200 3.1 ms');
  writer.write('info', { http_status: 401 }, 'POST /graphql 401 0.4 ms');
  assert.equal(stream.writes.length, 0);
  await new Promise((done) => setTimeout(done, 60));
  assert.equal(stream.writes.length, 1);
  assert.deepEqual(
    lines(stream.writes).map((l) => [l.level, l.http_status]),
    [
      ['INFO', 200],
      ['INFO', 401],
    ],
  );
});

test('a warning is written at once, after the lines before it', () => {
  const stream = recorder();
  const writer = new JsonTraceLogWriter(stream, 'gateway', { flushMs: 10_000 });
  writer.write('info', {}, 'first');
  writer.write('warn', {}, 'second');
  assert.equal(stream.writes.length, 1);
  assert.deepEqual(
    lines(stream.writes).map((l) => l.message),
    ['first', 'second'],
  );
  writer.write('error', {}, 'third');
  assert.deepEqual(
    lines(stream.writes).map((l) => l.message),
    ['first', 'second', 'third'],
  );
});

test('a process that exits writes every line still waiting', () => {
  const script = `
    import { JsonTraceLogWriter } from ${JSON.stringify(new URL('../telemetry.mjs', import.meta.url).href)};
    const writer = new JsonTraceLogWriter(process.stderr, 'gateway', { flushMs: 60_000 });
    for (let i = 0; i < 3; i++) writer.write('info', { i }, 'request');
    process.exit(0);
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 0);
  assert.deepEqual(
    lines([run.stderr]).map((l) => l.i),
    [0, 1, 2],
  );
});
