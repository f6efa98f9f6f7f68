// Apollo Client against the server, wired as README.md's "From Apollo
// Client" shows: an HttpLink for queries and mutations and a GraphQLWsLink
// for subscriptions, split by operation type, sending the contract's
// operations as written. graph/apollo_node_test.go starts a server, sets the
// environment below, and writes a line to stdin once this client's
// subscription has reached the server's broker (the feed is live: a
// notification made before that would not be pushed).
//
//   TG_HTTP_URL, TG_WS_URL         http://host:port/graphql, ws://host:port/graphql
//   TG_TENANT                      the tenant's slug
//   TG_OWNER_TOKEN                 the tenant's OWNER, who creates the task
//   TG_MEMBER_TOKEN, TG_MEMBER_ID  a MEMBER, who is assigned it and subscribes
//   TG_PROJECT_ID                  a project of the tenant
//   TG_CONTRACT                    the contract (default: ../../../shared/contract/operations.graphql)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Kind, parse } from 'graphql';
import { ApolloClient, HttpLink, InMemoryCache, split } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

function env(name) {
  const v = process.env[name];
  assert.ok(v, `${name} must be set`);
  return v;
}

const contract = parse(
  readFileSync(process.env.TG_CONTRACT || new URL('../../../shared/contract/operations.graphql', import.meta.url), 'utf8'),
);

// The contract's operation called name, alone in a document.
function operation(name) {
  const op = contract.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION && d.name?.value === name);
  assert.ok(op, `the contract has no ${name} operation`);
  return { kind: Kind.DOCUMENT, definitions: [op] };
}

// apollo builds a client for token as README.md does.
function apollo(token) {
  const headers = { Authorization: `Bearer ${token}`, 'X-Tenant-Slug': env('TG_TENANT') };
  const ws = createClient({ url: env('TG_WS_URL'), webSocketImpl: WebSocket, connectionParams: headers, retryAttempts: 0 });
  const link = split(
    ({ query }) => {
      const d = getMainDefinition(query);
      return d.kind === 'OperationDefinition' && d.operation === 'subscription';
    },
    new GraphQLWsLink(ws),
    new HttpLink({ uri: env('TG_HTTP_URL'), headers }),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  return {
    client,
    close: () => {
      client.stop();
      return ws.dispose();
    },
  };
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// goAhead resolves when the Go test writes a line to stdin.
function goAhead() {
  const lines = createInterface({ input: process.stdin });
  return new Promise((resolve) => lines.once('line', () => {
    lines.close();
    process.stdin.destroy(); // or it keeps the process alive
    resolve();
  }));
}

test('a query, a mutation and the live feed through Apollo Client', async () => {
  const member = apollo(env('TG_MEMBER_TOKEN'));
  const owner = apollo(env('TG_OWNER_TOKEN'));
  try {
    // A query, normalised in Apollo's cache by __typename and id.
    const tree = await member.client.query({ query: operation('ProjectTree'), variables: { first: 10 } });
    const project = tree.data.projects.edges.map((e) => e.node).find((p) => p.id === env('TG_PROJECT_ID'));
    assert.ok(project, `ProjectTree: got ${JSON.stringify(tree.data)}, want project ${env('TG_PROJECT_ID')}`);
    assert.equal(project.__typename, 'Project');
    const cached = member.client.cache.extract();
    assert.ok(cached[`Project:${project.id}`], 'the project is not in the cache under Project:<id>');

    // The live feed: subscribe, wait for the go-ahead, then the owner assigns
    // a task to the member through the CreateTask mutation.
    const pushed = new Promise((resolve, reject) => {
      const sub = member.client.subscribe({ query: operation('NotificationAdded') }).subscribe({
        next: (result) => {
          sub.unsubscribe();
          resolve(result);
        },
        error: reject,
        complete: () => reject(new Error('the subscription completed before any notification')),
      });
    });
    console.log('SUBSCRIBED');
    await withTimeout(goAhead(), 45_000, 'the go-ahead on stdin');

    const created = await owner.client.mutate({
      mutation: operation('CreateTask'),
      variables: { input: { projectID: project.id, title: 'From Apollo', assigneeID: env('TG_MEMBER_ID') } },
    });
    const task = created.data.createTask;
    assert.equal(task.assignee?.id, env('TG_MEMBER_ID'));
    assert.equal(task.project?.id, project.id);

    const result = await withTimeout(pushed, 10_000, 'notificationAdded');
    const n = result.data?.notificationAdded;
    assert.ok(n, `got ${JSON.stringify(result)}, want a notification`);
    assert.equal(n.__typename, 'Notification');
    assert.equal(n.kind, 'TASK_ASSIGNED');
    assert.equal(n.task?.id, task.id);
    assert.equal(n.read, false);
  } finally {
    await Promise.all([member.close(), owner.close()]);
  }
});
