// What the client tests share: their settings from the environment, and a
// bound on how long they wait.
import assert from 'node:assert/strict';

export function env(name) {
  const v = process.env[name];
  assert.ok(v, `${name} must be set`);
  return v;
}

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
