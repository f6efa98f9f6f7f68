// A mutation sent over graphql-ws while its instance shuts down, as in a
// rolling deploy behind a load balancer. graph/drain_test.go
// (TestARestartWithTheGraphQLWSClient) runs two instances on one database,
// holds the mutation's write until instance A is draining, and then lets
// it go. The client connects to A first and to B after that (its url
// function plays the load balancer). graphql-ws sends again, on its next
// connection, every operation it has not seen completed, so:
//
//   - the mutation must be answered, once, on A (cut off by the close, it
//     would be sent again to B and, had it committed on A, run twice);
//   - the subscription must go on, on B, which the client reaches after
//     A's 1001 close: a notification made once the client is on B arrives.
//
// The Go test reads these lines:
//   SENT             both operations are sent, on connection 1 (A)
//   CONNECTED n      the client's nth connection is acknowledged
// and makes the notification after CONNECTED 2.
//
//   TG_WS_URL_A, TG_WS_URL_B   the two instances' ws://host:port/graphql
//   TG_TOKEN, TG_TENANT        a member's token and the tenant's slug
//   TG_PROJECT                 a project of the tenant, to create the task in
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { env, withTimeout } from './helpers.mjs';

test('a mutation sent while its instance shuts down is answered once, and the subscription goes on elsewhere', async () => {
  let connections = 0; // acknowledged so far; the one in use is the last
  const closes = [];
  const c = createClient({
    url: () => (connections === 0 ? env('TG_WS_URL_A') : env('TG_WS_URL_B')),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${env('TG_TOKEN')}`, 'X-Tenant-Slug': env('TG_TENANT') },
    retryAttempts: 5,
    retryWait: () => new Promise((r) => setTimeout(r, 100)),
    on: {
      connected: () => { connections++; console.log(`CONNECTED ${connections}`); },
      closed: (e) => closes.push(e.code),
    },
  });
  try {
    const results = []; // the mutation's, with the connection each came on
    const mutated = new Promise((resolve, reject) => {
      c.subscribe({
        query: 'mutation($i: CreateTaskInput!) { createTask(input: $i) { title } }',
        variables: { i: { projectID: env('TG_PROJECT'), title: 'Held' } },
      }, {
        next: (v) => results.push({ v, on: connections }),
        error: (e) => reject(new Error(`the mutation failed: ${JSON.stringify(e?.code ?? e)} ${e?.reason ?? ''}`)),
        complete: resolve,
      });
    });
    const notification = new Promise((resolve, reject) => {
      c.subscribe({ query: 'subscription { notificationAdded { kind task { title } } }' }, {
        next: (v) => resolve({ v, on: connections }),
        error: (e) => reject(new Error(`the subscription failed: ${JSON.stringify(e?.code ?? e)} ${e?.reason ?? ''}`)),
        complete: () => reject(new Error('the subscription was completed: graphql-ws would not subscribe again')),
      });
    });
    notification.catch(() => {}); // reported when awaited
    console.log('SENT');

    await withTimeout(mutated, 20_000, 'the mutation');
    assert.equal(results.length, 1, `the mutation's results: ${JSON.stringify(results)}, want one`);
    assert.deepEqual(results[0].v, { data: { createTask: { title: 'Held' } } });
    assert.equal(results[0].on, 1, 'the mutation was answered on the second connection: it was sent again there');

    const got = await withTimeout(notification, 20_000, 'the notification after the restart');
    assert.equal(got.on, 2, 'the notification came on the first connection, want the one after the restart');
    assert.equal(got.v.data.notificationAdded.kind, 'TASK_ASSIGNED');
    assert.equal(got.v.data.notificationAdded.task.title, 'After the restart');
    assert.deepEqual(closes, [1001], `close codes seen: ${closes}, want A's 1001 alone`);
  } finally {
    await c.dispose();
  }
});
