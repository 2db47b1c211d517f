/**
 * Webhooks against a live latchkey: a real delivery verified with the
 * `standardwebhooks` package (the Standard Webhooks reference
 * implementation for TypeScript) as a receiver would, before and after the
 * signing secret is rotated; a tampered body is refused by it.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { Latchkey } from '../src/index.js';
import { RELAXED_LIMITS, startServer } from './helpers/server.js';
import type { TestServer } from './helpers/server.js';

const TOML = `${RELAXED_LIMITS}\n[webhooks]\nallow_private_targets = true\npoll_interval = "50ms"\n`;

/** Headers as `standardwebhooks` reads them: one string each. */
function flat(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (typeof v === 'string') out[k] = v;
  return out;
}

describe('webhooks', () => {
  let server: TestServer;
  let receiver: Server;
  let url: string;
  const got: { headers: Record<string, string>; body: string }[] = [];

  before(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got.push({ headers: flat(req.headers), body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((ok) => receiver.listen(0, '127.0.0.1', ok));
    url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    server = await startServer({ toml: TOML });
  });
  after(async () => {
    await server.stop();
    await new Promise((ok) => receiver.close(ok));
  });

  async function delivery(type: string): Promise<{ headers: Record<string, string>; body: string }> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const found = got.find((m) => m.body.includes(`"type":"${type}"`));
      if (found) return found;
      await new Promise((ok) => setTimeout(ok, 50));
    }
    throw new Error(`no ${type} delivery arrived`);
  }

  it('a real delivery verifies with standardwebhooks, with either secret after a rotation', async () => {
    const lk = new Latchkey({ apiKey: server.apiKey, baseUrl: server.url, maxRetries: 0 });
    const created = await lk.webhooks.create({ url, events: ['api_key.created'] });
    const secret = created.data.secret;
    assert.ok(secret.startsWith('whsec_'));
    const key = await lk.keys.create({ name: 'webhooked' });

    const m = await delivery('api_key.created');
    const payload = new Webhook(secret).verify(m.body, m.headers) as { id: string; type: string; orgId: string; data: { object: unknown } };
    assert.equal(payload.type, 'api_key.created');
    assert.equal(payload.id, m.headers['webhook-id']);
    assert.equal(payload.orgId, server.orgId);
    assert.deepEqual(payload.data.object, { type: 'api_key', id: key.id });
    assert.ok(!m.body.includes(key.key));
    assert.throws(() => new Webhook(secret).verify(m.body.replace('api_key.created', 'api_key.deleted'), m.headers), WebhookVerificationError);

    const rotated = await lk.webhooks.rotateSecret(created.data.id);
    await lk.webhooks.test(created.data.id);
    const t = await delivery('webhook.test');
    assert.equal(t.headers['webhook-signature']?.split(' ').length, 2);
    for (const whsec of [rotated.data.secret, secret]) {
      assert.equal((new Webhook(whsec).verify(t.body, t.headers) as { type: string }).type, 'webhook.test');
    }
  });
});
