// The live notification feed through graphql-ws, the client library that
// Apollo Client and GraphiQL use, exactly as a browser application would
// subscribe. graph/feed_node_test.go starts a server, sets the environment
// below, waits for the line "SUBSCRIBED" and then makes the notification.
//
//   TG_WS_URL        ws://host:port/graphql
//   TG_TOKEN         a member's token; TG_TENANT the tenant's slug
//   TG_EXPECT_KIND   the kind of the one notification to expect
//   TG_CONTRACT      the contract (default: ../../../shared/contract/operations.graphql)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Kind, parse, print } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { env, withTimeout } from './helpers.mjs';

// The contract's NotificationAdded operation, as written.
function notificationAdded() {
  const path = process.env.TG_CONTRACT || new URL('../../../shared/contract/operations.graphql', import.meta.url);
  const op = parse(readFileSync(path, 'utf8')).definitions.find(
    (d) => d.kind === Kind.OPERATION_DEFINITION && d.name?.value === 'NotificationAdded',
  );
  assert.ok(op, 'the contract has no NotificationAdded operation');
  return print(op);
}

function client(token, extra = {}) {
  return createClient({
    url: env('TG_WS_URL'),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${token}`, 'X-Tenant-Slug': env('TG_TENANT') },
    retryAttempts: 0,
    ...extra,
  });
}

test('a bad token is refused with close code 4403', async () => {
  const c = client('not-a-token');
  try {
    const closed = await withTimeout(
      new Promise((resolve, reject) => {
        c.subscribe({ query: notificationAdded() }, {
          next: (v) => reject(new Error(`got ${JSON.stringify(v)}, want the socket closed`)),
          error: resolve,
          complete: () => reject(new Error('completed, want the socket closed')),
        });
      }),
      10_000,
      'bad token',
    );
    assert.equal(closed.code, 4403, `close code: got ${closed.code} (${closed.reason}), want 4403`);
  } finally {
    await c.dispose();
  }
});

test('a member receives their notification, once', async () => {
  const want = env('TG_EXPECT_KIND');
  const c = client(env('TG_TOKEN'), {
    on: { connected: () => console.log('SUBSCRIBED') },
  });
  try {
    const received = [];
    let first;
    const got = new Promise((resolve) => { first = resolve; });
    const ended = new Promise((resolve, reject) => {
      c.subscribe({ query: notificationAdded(), operationName: 'NotificationAdded' }, {
        next: (v) => { received.push(v); first(v); },
        error: (e) => reject(new Error(`subscription failed: ${JSON.stringify(e?.code ?? e)} ${e?.reason ?? ''}`)),
        complete: resolve,
      });
    });
    ended.catch(() => {}); // reported through the race below
    const value = await withTimeout(Promise.race([got, ended.then(() => { throw new Error('completed before any notification'); })]), 20_000, 'notification');
    assert.equal(value.errors, undefined, `errors: ${JSON.stringify(value.errors)}`);
    const n = value.data.notificationAdded;
    assert.equal(n.kind, want, `kind: got ${n.kind}, want ${want}`);
    assert.ok(n.id, 'the notification has an ID');
    assert.equal(n.read, false, 'a new notification is unread');
    // Exactly once: nothing else arrives.
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(received.length, 1, `got ${received.length} notifications, want 1`);
  } finally {
    await c.dispose();
  }
});
