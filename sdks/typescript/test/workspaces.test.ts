/**
 * Workspaces against a live latchkey without an object store: the records
 * (create, list, get, update, delete), a mount decision's grant verified
 * offline with the published keys (`lk.workspaces.verifyGrant`,
 * `verifyMountGrant`, `MountGrantVerifier`), each way a grant is refused
 * (tampered claims or signature, another sandbox, expired, an unknown kid,
 * `alg: none`, malformed), the key set fetched again after a master key
 * rotation, and the server's refusals with their codes; on SQLite and on
 * PostgreSQL (`LATCHKEY_TEST_BACKENDS=sqlite` skips the latter).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  BadRequestError,
  InternalServerError,
  Latchkey,
  MOUNT_GRANT_AUDIENCE,
  MountGrantError,
  MountGrantVerifier,
  NotFoundError,
  PermissionDeniedError,
  verifyMountGrant,
} from '../src/index.js';
import type { MountGrantFailure } from '../src/index.js';
import { NO_POSTGRES, freshDatabase, recordingFetch, startServer } from './helpers/server.js';
import { refusal } from './helpers/refusal.js';
import type { TestServer } from './helpers/server.js';

let server: TestServer;
let lk: Latchkey;
/** An organization workspace every test may mount. */
let shared: { id: string; storagePrefix: string };

for (const backend of ['sqlite', 'postgres'] as const) {
  const skip = backend === 'postgres' && NO_POSTGRES && 'LATCHKEY_TEST_BACKENDS=sqlite';
  describe(`on ${backend}`, { skip }, () => {
    const database = backend === 'postgres' ? freshDatabase() : undefined;
    before(async () => {
      server = await startServer(database === undefined ? {} : { databaseUrl: database.url });
      lk = new Latchkey({ apiKey: server.apiKey, baseUrl: server.url, maxRetries: 0 });
      shared = await lk.workspaces.create({ name: 'shared', kind: 'org' });
    });
    after(async () => {
      await server?.stop();
      await database?.drop();
    });
    records();
    grants();
  });
}

/** Checks that `run` throws (or rejects with) a MountGrantError for `reason`. */
async function refusedGrant(run: () => unknown, reason: MountGrantFailure): Promise<void> {
  const error = await Promise.resolve()
    .then(run)
    .then(
      () => assert.fail(`expected a ${reason} refusal`),
      (e: unknown) => e,
    );
  assert.ok(error instanceof MountGrantError, String(error));
  assert.equal(error.reason, reason, error.message);
  assert.equal(error.code, 'invalid_grant');
}

/** `grant` with part `i` replaced by `f(part)`. */
function withPart(grant: string, i: number, f: (part: string) => string): string {
  const parts = grant.split('.');
  parts[i] = f(parts[i] ?? '');
  return parts.join('.');
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const decode = (part: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;

/** A grant to mount the shared workspace into `sandboxId`. */
async function mountGrant(sandboxId = 'sbx_1', mode: 'ro' | 'rw' = 'rw'): Promise<string> {
  const decision = await lk.workspaces.mount(shared.id, { sandboxId, path: '/workspace', mode });
  assert.equal(decision.allowed, true);
  return decision.grant;
}

/** The records, and the server's refusals. */
function records(): void {
  describe('records', () => {
    it('creates, lists, gets, updates and deletes organization and personal workspaces', async () => {
      const org = await lk.workspaces.create({ name: 'team data', kind: 'org', quotaBytes: 1024 });
      const mine = await lk.workspaces.create({ name: 'notes', kind: 'personal' });
      assert.match(org.id, /^wsp_/);
      assert.equal(org.kind, 'org');
      assert.equal(org.storagePrefix, `orgs/${server.orgId}/workspaces/${org.id}/`);
      assert.equal(org.quotaBytes, 1024);
      assert.equal(mine.kind, 'personal');
      assert.equal(mine.ownerUserId, server.userId);

      const listed: string[] = [];
      for await (const w of lk.workspaces.list({ limit: 1 })) listed.push(w.id);
      assert.ok(listed.includes(org.id) && listed.includes(mine.id) && listed.includes(shared.id), listed.join());
      const personal: string[] = [];
      for await (const w of lk.workspaces.list({ kind: 'personal' })) personal.push(w.id);
      assert.deepEqual(personal, [mine.id]);

      assert.equal((await lk.workspaces.get(org.id)).name, 'team data');
      const renamed = await lk.workspaces.update(org.id, { name: 'team files', quotaBytes: null });
      assert.equal(renamed.name, 'team files');
      assert.ok(renamed.quotaBytes === undefined || renamed.quotaBytes === null);
      assert.equal(renamed.storagePrefix, org.storagePrefix, 'the prefix never changes');

      await lk.workspaces.delete(org.id);
      await lk.workspaces.delete(mine.id);
      await refusal(lk.workspaces.get(org.id), NotFoundError, 404, 'not_found');
      await refusal(lk.workspaces.delete(mine.id), NotFoundError, 404, 'not_found');
    });

    it("answers the server's refusals with their status and code", async () => {
      const mine = await lk.workspaces.create({ name: 'diary', kind: 'personal' });
      const mount = lk.workspaces.mount(mine.id, { sandboxId: 'sbx_1', path: '/workspace', mode: 'ro' });
      await refusal(mount, PermissionDeniedError, 403, 'personal_workspace_not_mountable');
      for (const path of ['workspace', '/', '/etc/secrets', '/a/../b']) {
        const bad = lk.workspaces.mount(shared.id, { sandboxId: 'sbx_1', path, mode: 'ro' });
        await refusal(bad, BadRequestError, 400, 'invalid_mount_path');
      }
      const presign = lk.workspaces.presign(shared.id, { path: 'a.txt', method: 'PUT' });
      await refusal(presign, InternalServerError, 501, 'storage_not_configured');
      await refusal(lk.workspaces.files(shared.id), InternalServerError, 501, 'storage_not_configured');
      await lk.workspaces.delete(mine.id);
    });
  });

}

/** Grants verified offline, and refused. */
function grants(): void {
  describe('mount grants, verified offline', () => {
    it("verifies an allowed mount's grant with the published keys, fetched once", async () => {
      const { fetch, statuses } = recordingFetch();
      const runtime = new Latchkey({ apiKey: null, baseUrl: server.url, maxRetries: 0, fetch });
      const grant = await mountGrant('sbx_1', 'ro');

      const claims = await runtime.workspaces.verifyGrant(grant, { sandboxId: 'sbx_1' });
      assert.equal(claims.sub, shared.id);
      assert.equal(claims.org, server.orgId);
      assert.equal(claims.prefix, shared.storagePrefix);
      assert.equal(claims.sandboxId, 'sbx_1');
      assert.equal(claims.path, '/workspace');
      assert.equal(claims.mode, 'ro');
      assert.equal(claims.aud, MOUNT_GRANT_AUDIENCE);
      assert.equal(claims.exp - claims.iat, 300);
      assert.ok(claims.jti.length > 0);

      // The keys are kept: a second grant needs no request.
      const again = await runtime.workspaces.verifyGrant(await mountGrant('sbx_2'), {});
      assert.equal(again.sandboxId, 'sbx_2');
      assert.equal(again.mode, 'rw');
      assert.deepEqual(statuses, [200], 'one fetch of the key set');

      // The standalone function, with the set in hand.
      const jwks = await lk.workspaces.grantKeys();
      assert.deepEqual(verifyMountGrant(grant, jwks, { sandboxId: 'sbx_1' }), claims);
    });

    it('refuses tampered claims, a tampered signature, another sandbox and an expired grant', async () => {
      const grant = await mountGrant('sbx_1', 'ro');
      const jwks = await lk.workspaces.grantKeys();
      const claims = decode(grant.split('.')[1] ?? '');

      const escalated = withPart(grant, 1, () => encode({ ...claims, mode: 'rw' }));
      await refusedGrant(() => lk.workspaces.verifyGrant(escalated), 'signature');
      const elsewhere = withPart(grant, 1, () => encode({ ...claims, sub: 'wsp_01other', prefix: 'orgs/x/' }));
      await refusedGrant(() => verifyMountGrant(elsewhere, jwks), 'signature');
      const flipped = withPart(grant, 2, (s) => {
        const bytes = Buffer.from(s, 'base64url');
        bytes[10] = (bytes[10] ?? 0) ^ 1;
        return bytes.toString('base64url');
      });
      await refusedGrant(() => lk.workspaces.verifyGrant(flipped), 'signature');

      await refusedGrant(() => lk.workspaces.verifyGrant(grant, { sandboxId: 'sbx_2' }), 'sandbox_mismatch');
      const exp = Number(claims['exp']) * 1000;
      await refusedGrant(() => lk.workspaces.verifyGrant(grant, { now: exp }), 'expired');
      await refusedGrant(() => verifyMountGrant(grant, jwks, { now: new Date(Date.now() + 301_000) }), 'expired');
      // A second before it expires, it still verifies.
      assert.equal(verifyMountGrant(grant, jwks, { now: exp - 1000 }).sub, shared.id);
    });

    it('refuses an unknown kid, alg none and malformed grants (these before any fetch)', async () => {
      const grant = await mountGrant();
      const header = decode(grant.split('.')[0] ?? '');
      const jwks = await lk.workspaces.grantKeys();

      const kid = 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k';
      const unknown = withPart(grant, 0, () => encode({ ...header, kid }));
      await refusedGrant(() => verifyMountGrant(unknown, jwks), 'unknown_key');
      await refusedGrant(() => lk.workspaces.verifyGrant(unknown), 'unknown_key');
      // A set without that key's curve: no key either.
      const wrongCurve = { keys: jwks.keys.map((k) => ({ ...k, crv: 'Ed448' })) };
      await refusedGrant(() => verifyMountGrant(grant, wrongCurve), 'unknown_key');

      const none = withPart(withPart(grant, 0, () => encode({ ...header, alg: 'none' })), 2, () => '');
      const { fetch, statuses } = recordingFetch();
      const runtime = new Latchkey({ apiKey: null, baseUrl: server.url, maxRetries: 0, fetch });
      await refusedGrant(() => runtime.workspaces.verifyGrant(none), 'header');
      await refusedGrant(() => verifyMountGrant(none, jwks), 'header');
      const otherType = withPart(grant, 0, () => encode({ ...header, typ: 'JWT' }));
      await refusedGrant(() => runtime.workspaces.verifyGrant(otherType), 'header');
      for (const bad of ['', 'a.b', `${grant}.x`, withPart(grant, 1, (c) => `${c}=`), withPart(grant, 1, () => '!!')]) {
        await refusedGrant(() => runtime.workspaces.verifyGrant(bad), 'malformed');
      }
      assert.deepEqual(statuses, [], 'no key set fetched for a grant refused on its face');
    });

    it('fetches the keys again for a kid it does not hold: a master key rotation', async () => {
      const { fetch, statuses } = recordingFetch();
      const runtime = new Latchkey({ apiKey: null, baseUrl: server.url, maxRetries: 0, fetch });
      const refreshing = new MountGrantVerifier(() => runtime.workspaces.grantKeys(), { cooldownMs: 0 });
      const holding = new MountGrantVerifier(() => runtime.workspaces.grantKeys(), { cooldownMs: 3_600_000 });
      const before = await mountGrant();
      await refreshing.verify(before);
      await holding.verify(before);
      assert.equal(statuses.length, 2);

      await server.admin(['rotate-master-key']);
      const published = await lk.workspaces.grantKeys();
      assert.equal(published.keys.length, 2, 'the new key first, the old one still');
      const after = await mountGrant();
      const kid = decode(after.split('.')[0] ?? '')['kid'];
      assert.equal(kid, published.keys[0]?.kid);
      assert.notEqual(kid, decode(before.split('.')[0] ?? '')['kid']);

      assert.equal((await refreshing.verify(after, { sandboxId: 'sbx_1' })).sub, shared.id);
      assert.equal(statuses.length, 3, 'one more fetch');
      // Grants made before the rotation still verify.
      assert.equal((await refreshing.verify(before)).sub, shared.id);
      // Within its cooldown, a verifier does not fetch again, and refuses.
      await refusedGrant(() => holding.verify(after), 'unknown_key');
      assert.equal(statuses.length, 3);
    });
  });
}
