/**
 * The client against a live latchkey: settings from the environment, keys
 * (create, verify with every code, explain, list with paging, get, update, usage,
 * rotate, revoke, delete, transfer), and the other resources.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { inspect } from 'node:util';
import { AuthenticationError, Latchkey, VERIFY_CODES } from '../src/index.js';
import type { VerifyCode } from '../src/index.js';
import { startServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';

let server: TestServer;
let lk: Latchkey;
const seenCodes = new Set<VerifyCode>();

before(async () => {
  server = await startServer();
  lk = new Latchkey({ apiKey: server.apiKey, baseUrl: server.url, timeoutMs: 15_000 });
});
after(async () => {
  await server?.stop();
});

/** Verifies `key` and records the code seen (every code must be seen once, see the last test). */
async function code(key: string, extra: { scopes?: string[]; projectId?: string; ip?: string } = {}): Promise<VerifyCode> {
  const verdict = await lk.keys.verify({ key, ...extra });
  seenCodes.add(verdict.code);
  assert.equal(verdict.valid, verdict.code === 'VALID', JSON.stringify(verdict));
  return verdict.code;
}

/** A fresh OpenSSH ed25519 public key line. */
function sshPublicKey(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  const field = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from('ssh-ed25519')), field(raw)]).toString('base64')} sdk@test`;
}

describe('settings', () => {
  it('reads LATCHKEY_API_KEY and LATCHKEY_API_URL, and envPrefix reads another prefix', async () => {
    const saved = { ...process.env };
    try {
      process.env['LATCHKEY_API_KEY'] = server.apiKey;
      process.env['LATCHKEY_API_URL'] = server.url;
      const me = await new Latchkey().me();
      assert.equal(me.org.id, server.orgId);
      assert.equal(me.authType, 'api_key');

      delete process.env['LATCHKEY_API_KEY'];
      delete process.env['LATCHKEY_API_URL'];
      process.env['RUNTOOLS_API_KEY'] = server.apiKey;
      process.env['RUNTOOLS_API_URL'] = server.url;
      const rt = new Latchkey({ envPrefix: 'RUNTOOLS' });
      assert.equal(rt.baseUrl, server.url);
      assert.equal((await rt.me()).org.id, server.orgId);

      // Options win over the environment; with neither, the default server.
      const explicit = new Latchkey({ envPrefix: 'RUNTOOLS', apiKey: 'lk_live_wrong', maxRetries: 0 });
      await assert.rejects(explicit.me(), AuthenticationError);
      delete process.env['RUNTOOLS_API_URL'];
      assert.equal(new Latchkey({ envPrefix: 'RUNTOOLS' }).baseUrl, 'http://127.0.0.1:7420');
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
      Object.assign(process.env, saved);
    }
  });

  it('never shows its key: not in inspect, JSON or an error', async () => {
    const client = new Latchkey({ apiKey: server.apiKey, baseUrl: server.url });
    assert.ok(!inspect(client, { depth: 10, showHidden: true }).includes(server.apiKey));
    assert.ok(!JSON.stringify(client).includes(server.apiKey));
    const wrong = 'lk_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const error = await new Latchkey({ apiKey: wrong, baseUrl: server.url, maxRetries: 0 }).me().catch((e: unknown) => e);
    assert.ok(error instanceof AuthenticationError);
    assert.ok(!inspect(error, { depth: 10 }).includes(wrong));
  });
});

describe('keys', () => {
  it('create shows the key once; get and list never show it', async () => {
    const created = await lk.keys.create({ name: 'ci', scopes: ['sandbox:create'], expiresIn: '30d' });
    assert.match(created.key, /^lk_live_/);
    assert.deepEqual(created.scopes, ['sandbox:create']);
    assert.ok(created.expiresAt);
    const fetched = await lk.keys.get(created.id);
    assert.equal(fetched.id, created.id);
    assert.ok(fetched.key === undefined || fetched.key === null);
    for await (const k of lk.keys.list()) assert.ok(k.key === undefined || k.key === null);
    assert.equal(await code(created.key, { scopes: ['sandbox:create'] }), 'VALID');
  });

  it('verify answers every code as a verdict, not an exception', async () => {
    const valid = await lk.keys.create({ name: 'valid', scopes: ['sandbox:read'] });
    assert.equal(await code(valid.key), 'VALID');
    assert.equal(await code('not a key'), 'MALFORMED');
    assert.equal(await code(valid.key, { scopes: ['sandbox:write'] }), 'INSUFFICIENT_SCOPE');

    const deleted = await lk.keys.create({ name: 'deleted' });
    await lk.keys.delete(deleted.id);
    assert.equal(await code(deleted.key), 'NOT_FOUND');

    const revoked = await lk.keys.create({ name: 'revoked' });
    const view = await lk.keys.revoke(revoked.id);
    assert.ok(view.revokedAt);
    assert.equal(await code(revoked.key), 'REVOKED');

    const expiring = await lk.keys.create({ name: 'expiring', expiresIn: '1s' });
    await new Promise((r) => setTimeout(r, 1_200));
    assert.equal(await code(expiring.key), 'EXPIRED');

    const limited = await lk.keys.create({ name: 'limited', rateLimitPerMinute: 1 });
    assert.equal(await code(limited.key), 'VALID');
    const refused = await lk.keys.verify({ key: limited.key });
    seenCodes.add(refused.code);
    assert.equal(refused.code, 'RATE_LIMITED');
    assert.equal(refused.ratelimit?.limit, 1);
    assert.equal(refused.ratelimit?.remaining, 0);

    const budget = await lk.keys.create({ name: 'budget', remaining: 1 });
    assert.equal(await code(budget.key), 'VALID');
    assert.equal(await code(budget.key), 'USAGE_EXCEEDED');

    // A key bound to a network: the client address the platform saw decides, before credits.
    const fenced = await lk.keys.create({ name: 'fenced', allowedCidrs: ['203.0.113.0/24'], remaining: 1 });
    assert.equal(await code(fenced.key, { ip: '198.51.100.7' }), 'IP_NOT_ALLOWED');
    assert.equal(await code(fenced.key, { ip: '203.0.113.9' }), 'VALID');
  });

  it('explain says what a key can do and spends nothing', async () => {
    const k = await lk.keys.create({ name: 'explained', scopes: ['sandbox:read'], rateLimitPerMinute: 2, remaining: 5 });
    for (let i = 0; i < 3; i += 1) {
      const e = await lk.keys.explain({ keyId: k.id, scopes: ['sandbox:write'] });
      assert.equal(e.verdict?.code, 'INSUFFICIENT_SCOPE');
      assert.deepEqual(e.limits.perMinute, { limit: 2, remaining: 2, reset: 0 });
      assert.equal(e.credits?.remaining, 5);
      const read = e.permissions.find((p) => p.permission === 'sandbox:read');
      const write = e.permissions.find((p) => p.permission === 'sandbox:write');
      assert.deepEqual([read?.allowed, write?.reason], [true, 'not_granted']);
    }
    const v = await lk.keys.verify({ key: k.key });
    assert.deepEqual([v.code, v.ratelimit?.remaining, v.remaining], ['VALID', 1, 4]);
    assert.equal((await lk.keys.explain({ key: k.key })).keyId, k.id);
  });

  it("verify answers DISABLED once the key's owner has left", async () => {
    // A second person: signs up, is invited into Acme, accepts, mints a key there.
    const anon = new Latchkey({ apiKey: null, baseUrl: server.url });
    const grant = await anon.auth.signup({
      email: 'member@example.com',
      password: 'correct horse battery staple',
      displayName: 'Member',
      orgName: 'Elsewhere',
    });
    const invitation = await lk.invitations.create({ email: 'member@example.com', role: 'member' });
    assert.ok(invitation.token);
    const person = new Latchkey({ apiKey: grant.token, baseUrl: server.url });
    const joined = await person.invitations.accept({ token: invitation.token ?? '' });
    assert.equal(joined.id, server.orgId);
    const inAcme = new Latchkey({ apiKey: grant.token, baseUrl: server.url, orgId: server.orgId });
    const theirs = await inAcme.keys.create({ name: 'member key', scopes: ['org:read'] });
    assert.equal(await code(theirs.key), 'VALID');

    await lk.members.remove(grant.user.id);
    assert.equal(await code(theirs.key), 'DISABLED');
  });

  it('an invitation signs someone without an account up, into the inviting organization only', async () => {
    const invitation = await lk.invitations.create({ email: 'invitee@example.com', role: 'member' });
    assert.ok(invitation.token);
    const anon = new Latchkey({ apiKey: null, baseUrl: server.url });
    const grant = await anon.auth.signupInvited({
      token: invitation.token ?? '',
      displayName: 'Invitee',
      password: 'correct horse battery staple',
    });
    assert.equal(grant.user.email, 'invitee@example.com');
    assert.equal(grant.org?.id, server.orgId);
    assert.equal(grant.org?.role, 'member');
    const person = new Latchkey({ apiKey: grant.token, baseUrl: server.url });
    const orgs: string[] = [];
    for await (const o of person.orgs.list()) orgs.push(o.id);
    assert.deepEqual(orgs, [server.orgId]);
    await lk.members.remove(grant.user.id);
  });

  it('list follows nextCursor across pages, and pages() shows each page', async () => {
    const project = await lk.projects.create({ name: 'paging' });
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) ids.add((await lk.keys.create({ name: `page ${i}`, projectId: project.id })).id);

    const first = await lk.keys.list({ projectId: project.id, limit: 2 });
    assert.equal(first.data.length, 2);
    assert.ok(first.hasNextPage());
    const second = await first.getNextPage();
    assert.equal(second.data.length, 2);
    assert.notDeepEqual(
      second.data.map((k) => k.id),
      first.data.map((k) => k.id),
    );

    const seen: string[] = [];
    for await (const k of lk.keys.list({ projectId: project.id, limit: 2 })) seen.push(k.id);
    assert.equal(seen.length, 5);
    assert.deepEqual(new Set(seen), ids);

    const sizes: number[] = [];
    for await (const page of lk.keys.list({ projectId: project.id, limit: 2 }).pages()) sizes.push(page.data.length);
    assert.deepEqual(sizes, [2, 2, 1]);
  });

  it('allOrg lists every member key (admins)', async () => {
    const all: string[] = [];
    for await (const k of lk.keys.list({ allOrg: true })) all.push(k.id);
    const mine: string[] = [];
    for await (const k of lk.keys.list()) mine.push(k.id);
    assert.ok(all.length >= mine.length);
    for (const id of mine) assert.ok(all.includes(id));
  });

  it('update, usage, rotate with a grace period, rotate at once, transfer, revoke', async () => {
    const key = await lk.keys.create({ name: 'rotating', scopes: ['org:read'] });
    const renamed = await lk.keys.update(key.id, { name: 'renamed', rateLimitPerMinute: 100 });
    assert.equal(renamed.name, 'renamed');
    assert.equal(renamed.rateLimitPerMinute, 100);
    assert.equal(await code(key.key), 'VALID');

    const graced = await lk.keys.rotate(key.id, { gracePeriod: '1h' });
    assert.notEqual(graced.key, key.key);
    assert.equal(graced.rotatedFrom, key.id);
    assert.equal(await code(graced.key), 'VALID');
    assert.equal(await code(key.key), 'VALID', 'the old key works during the grace period');

    const next = await lk.keys.rotate(graced.id);
    assert.equal(await code(next.key), 'VALID');
    assert.equal(await code(graced.key), 'REVOKED', 'no grace period: revoked now');

    // Usage is written behind (batched): wait for the verifications above to land.
    let valid = 0;
    for (const deadline = Date.now() + 15_000; valid < 2 && Date.now() < deadline; ) {
      const usage = await lk.keys.usage(key.id, { days: 30 });
      valid = usage.reduce((n, day) => n + (day.counts['VALID'] ?? 0), 0);
      if (valid < 2) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(valid >= 2, `usage shows ${valid} valid verifications of the key`);

    const orgOwned = await lk.keys.transfer(next.id, { to: 'org' });
    assert.equal(orgOwned.owner, 'org');
    const revoked = await lk.keys.revoke(next.id);
    assert.ok(revoked.revokedAt);
    assert.equal(await code(next.key), 'REVOKED');
  });

  it('importHashes: keys of another system verify by their hash; export lists them, never a plaintext', async () => {
    const secret = `prod_${randomBytes(18).toString('base64url')}`;
    const digest = createHash('sha256').update(secret).digest();
    const done = await lk.keys.importHashes([
      {
        hash: { algorithm: 'sha256', encoding: 'base64', value: digest.toString('base64') },
        prefix: 'prod_',
        name: 'from unkey',
        scopes: ['org:read'],
        externalId: 'key_sdk_ts',
      },
    ]);
    assert.equal(done.imported, 1);
    assert.equal(await code(secret), 'VALID');
    const imported = await lk.keys.get(done.ids[0] ?? '');
    assert.equal(imported.imported, true);
    assert.equal(imported.externalId, 'key_sdk_ts');

    const lines = await lk.keys.export({ encoding: 'hex' });
    const line = lines.find((l) => l.id === imported.id);
    assert.ok(line, 'the imported key is exported');
    assert.deepEqual(line.hash, { algorithm: 'sha256', encoding: 'hex', value: digest.toString('hex') });
    assert.ok(lines.length >= 2 && lines.every((l) => l.status !== undefined));
    assert.ok(!JSON.stringify(lines).includes(secret.slice(5)), 'no plaintext in the export');
    assert.ok(!JSON.stringify(lines).includes(server.apiKey.slice(8)), 'no plaintext in the export');

    // All or nothing: the same hash again is refused, naming the key.
    await assert.rejects(
      lk.keys.importHashes([
        { hash: { algorithm: 'sha256', encoding: 'hex', value: createHash('sha256').update('other-0123456789').digest('hex') }, name: 'x', scopes: [] },
        { hash: { algorithm: 'sha256', encoding: 'base64url', value: digest.toString('base64url') }, name: 'again', scopes: [] },
      ]),
      (e: Error & { status?: number }) => e.status === 409 && e.message.includes('keys[1]'),
    );
  });
});

describe('other resources', () => {
  it('me, scopes, projects', async () => {
    const me = await lk.me();
    assert.equal(me.org.id, server.orgId);
    assert.deepEqual(me.scopes, ['*']);
    const scopes = await lk.scopes.list();
    assert.ok(scopes.length > 0);

    const project = await lk.projects.create({ name: 'sdk', description: 'made by the SDK test' });
    assert.equal((await lk.projects.get(project.id)).name, 'sdk');
    assert.equal((await lk.projects.update(project.id, { name: 'sdk 2' })).name, 'sdk 2');
    const names: string[] = [];
    for await (const p of lk.projects.list()) names.push(p.name);
    assert.ok(names.includes('sdk 2'));
    await lk.projects.delete(project.id);
    await assert.rejects(lk.projects.get(project.id), { status: 404 });
  });

  it('secrets: set, list, get, reveal, resolve, delete', async () => {
    const value = 'sk-secret-value-for-the-sdk-test';
    const set = await lk.secrets.set('OPENAI_API_KEY', { value, category: 'api-key' });
    assert.equal(set.name, 'OPENAI_API_KEY');
    assert.ok(!JSON.stringify(set).includes(value));
    const listed: string[] = [];
    for await (const s of lk.secrets.list()) listed.push(s.name);
    assert.ok(listed.includes('OPENAI_API_KEY'));
    assert.equal((await lk.secrets.get('OPENAI_API_KEY')).version, set.version);
    assert.equal((await lk.secrets.reveal('OPENAI_API_KEY')).value, value);
    const resolved = await lk.secrets.resolve({ names: ['OPENAI_API_KEY', 'MISSING_ONE'] });
    assert.deepEqual(
      resolved.secrets.map((s) => s.value),
      [value],
    );
    assert.deepEqual(resolved.missing, ['MISSING_ONE']);
    await lk.secrets.delete('OPENAI_API_KEY');
    await assert.rejects(lk.secrets.get('OPENAI_API_KEY'), { status: 404 });
  });

  it('ssh keys: create, list, set default, authorized keys, delete', async () => {
    const line = sshPublicKey();
    const created = await lk.sshKeys.create({ name: 'laptop', publicKey: line });
    const ids: string[] = [];
    for await (const k of lk.sshKeys.list()) ids.push(k.id);
    assert.ok(ids.includes(created.id));
    assert.equal((await lk.sshKeys.setDefault(created.id)).id, created.id);
    const text = await lk.sshKeys.authorizedKeys();
    assert.ok(text.includes(line.split(' ')[1] ?? '-'), text);
    await lk.sshKeys.delete(created.id);
    assert.ok(!(await lk.sshKeys.authorizedKeys()).includes(line.split(' ')[1] ?? '-'));
  });

  it('audit events record what the test did', async () => {
    const actions = new Set<string>();
    for await (const e of lk.auditEvents.list({ limit: 50 })) actions.add(e.action);
    assert.ok([...actions].some((a) => a.includes('key')), [...actions].join(', '));
  });

  it('people: login, sessions, orgs, logout', async () => {
    const anon = new Latchkey({ apiKey: null, baseUrl: server.url });
    const grant = await anon.auth.login({ email: server.email, password: server.password });
    const session = new Latchkey({ apiKey: grant.token, baseUrl: server.url });
    assert.equal((await session.me()).authType, 'session');
    const sessions: string[] = [];
    for await (const s of session.sessions.list()) sessions.push(s.id);
    assert.ok(sessions.includes(grant.sessionId));
    const org = await session.orgs.create({ name: 'Second' });
    assert.equal((await session.orgs.switch({ orgId: org.id })).id, org.id);
    assert.equal((await session.orgs.get(org.id)).name, 'Second');
    assert.equal((await session.orgs.update(org.id, { name: 'Second Org' })).name, 'Second Org');
    const orgs: string[] = [];
    for await (const o of session.orgs.list()) orgs.push(o.id);
    assert.ok(orgs.includes(server.orgId) && orgs.includes(org.id));
    await session.auth.logout();
    await assert.rejects(session.me(), AuthenticationError);
  });

  it('forward auth: the check names the key it let through', async () => {
    const key = await lk.keys.create({ name: 'proxy', scopes: ['sandbox:read'] });
    const proxied = new Latchkey({ apiKey: key.key, baseUrl: server.url });
    const who = await proxied.auth.check({ 'x-latchkey-scope': 'sandbox:read' });
    assert.equal(who.keyId, key.id);
    assert.equal(who.orgId, server.orgId);
    assert.equal((await proxied.auth.checkPost({ 'x-latchkey-scope': 'sandbox:read' })).keyId, key.id);
    await assert.rejects(proxied.auth.check({ 'x-latchkey-scope': 'sandbox:write' }), { status: 403 });
  });

  it('Runloop and Runtype profiles mint keys that verify', async () => {
    const ak = await lk.runloop.createApiKey({ name: 'runloop' });
    assert.match(ak.key_secret ?? '', /^ak_/);
    assert.equal(await code(ak.key_secret ?? ''), 'VALID');
    const rk = await lk.runloop.createRestrictedKey({ name: 'restricted' });
    assert.match(rk.key_secret ?? '', /^rk_/);

    const product = await lk.products.create({ name: 'Widgets' });
    assert.equal((await lk.products.get(product.id)).name, 'Widgets');
    const surface = await lk.products.surfaces.create(product.id, { name: 'api' });
    assert.equal((await lk.products.surfaces.get(product.id, surface.id)).id, surface.id);
    const sk = await lk.products.surfaces.createKey(product.id, surface.id, { environment: 'test' });
    assert.match(sk.key, /^sk_test_/);
    assert.equal(await code(sk.key), 'VALID');
    const products: string[] = [];
    for await (const p of lk.products.list()) products.push(p.id);
    assert.ok(products.includes(product.id));
    const surfaces: string[] = [];
    for await (const s of lk.products.surfaces.list(product.id)) surfaces.push(s.id);
    assert.deepEqual(surfaces, [surface.id]);
  });

  it('system: health, readiness, metrics, the document, the reference', async () => {
    assert.equal((await lk.system.health())['status'], 'ok');
    assert.equal((await lk.system.readiness())['status'], 'ready');
    assert.match(await lk.system.metrics(), /^# (HELP|TYPE) /m);
    const doc = await lk.system.openapi();
    assert.equal((doc['info'] as { title?: string }).title, 'latchkey');
    assert.match(await lk.system.apiReference(), /<html/i);
  });

  it('every verdict code was seen', () => {
    assert.deepEqual([...seenCodes].sort(), [...VERIFY_CODES].sort());
  });
});
