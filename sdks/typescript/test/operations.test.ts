/**
 * The SDK against the contract itself: every `operationId` of
 * docs/openapi.json has a method, and that method sends the operation's
 * HTTP method to its path (with percent-encoded parameters).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Latchkey, OPERATIONS, VERIFY_CODES } from '../src/index.js';
import { REPO_ROOT } from './helpers/server.js';

interface Operation {
  operationId: string;
  method: string;
  path: string;
  pathParams: string[];
  hasParams: boolean;
}

const document = JSON.parse(readFileSync(join(REPO_ROOT, 'docs/openapi.json'), 'utf8')) as {
  paths: Record<string, Record<string, { operationId?: string; parameters?: { in: string; name: string }[]; requestBody?: unknown }>>;
  components: { schemas: Record<string, { properties?: Record<string, { description?: string }> }> };
};

const operations: Operation[] = Object.entries(document.paths).flatMap(([path, methods]) =>
  Object.entries(methods)
    .filter(([method]) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
    .map(([method, op]) => {
      const params = op.parameters ?? [];
      return {
        operationId: op.operationId ?? '',
        method: method.toUpperCase(),
        path,
        pathParams: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? ''),
        hasParams: op.requestBody !== undefined || params.some((p) => p.in === 'query' || p.in === 'header'),
      };
    }),
);

/** The method an `OPERATIONS` entry names, bound to its resource. */
function methodOf(client: Latchkey, route: string): ((...args: unknown[]) => unknown) | undefined {
  let owner: unknown = client;
  let value: unknown = client;
  for (const part of route.split('.')) {
    owner = value;
    value = (value as Record<string, unknown> | undefined)?.[part];
  }
  return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(owner) : undefined;
}

test('the document has operations, each with an operationId', () => {
  assert.ok(operations.length >= 60, `only ${operations.length} operations`);
  for (const op of operations) assert.ok(op.operationId, `${op.method} ${op.path} has no operationId`);
});

test('every operationId of the contract has a method, and the table names no other', () => {
  const client = new Latchkey({ apiKey: null });
  const documented = operations.map((o) => o.operationId).sort();
  assert.deepEqual(Object.keys(OPERATIONS).sort(), documented);
  const routes = Object.values(OPERATIONS);
  assert.equal(new Set(routes).size, routes.length, 'two operations share a method');
  for (const [id, route] of Object.entries(OPERATIONS)) {
    assert.ok(methodOf(client, route), `${id}: lk.${route} is not a method`);
  }
});

test("each method sends its operation's method and path", async () => {
  const sent: { method: string; url: URL }[] = [];
  const fetchStub: typeof fetch = async (input, init) => {
    sent.push({ method: init?.method ?? 'GET', url: new URL(String(input)) });
    return new Response('{"data": [], "nextCursor": null}', { headers: { 'content-type': 'application/json' } });
  };
  const client = new Latchkey({ apiKey: 'lk_test_unused', baseUrl: 'http://sdk.test', fetch: fetchStub, maxRetries: 0 });
  for (const op of operations) {
    const route = OPERATIONS[op.operationId as keyof typeof OPERATIONS];
    const method = methodOf(client, route);
    assert.ok(method, route);
    // Path parameters first, in the path's order (with characters that need
    // encoding), then the body or query object.
    const args: unknown[] = op.pathParams.map((p) => `${p} 1/é`);
    if (op.hasParams) args.push(op.operationId === 'resolveSecrets' ? { names: ['A', 'B'] } : {});
    sent.length = 0;
    await method(...args);
    assert.equal(sent.length, 1, `${op.operationId} sent ${sent.length} requests`);
    const expected = op.path.replace(/\{(\w+)\}/g, (_, p: string) => encodeURIComponent(`${p} 1/é`));
    assert.equal(`${sent[0]?.method} ${sent[0]?.url.pathname}`, `${op.method} ${expected}`, op.operationId);
  }
});

test('the verdict codes are the ones the contract lists', () => {
  const description = document.components.schemas['VerifyView']?.properties?.['code']?.description ?? '';
  const listed = [...description.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]);
  assert.deepEqual([...VERIFY_CODES].sort(), listed.sort());
});
