/** `@latchkey/sdk/hono` protecting a small Hono app (served by @hono/node-server). */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { latchkeyAuth } from '../src/middleware/hono.js';
import { middlewareSuite } from './helpers/middleware-suite.js';
import type { Seen } from './helpers/middleware-suite.js';

middlewareSuite('Hono', async (options, hooks) => {
  const app = new Hono();
  app.get('/health', (c) => c.json({ ok: true }));
  app.use(
    '/v1/*',
    latchkeyAuth({
      ...options,
      ...(hooks
        ? {
            getKey: (c) => c.req.query('api_key'),
            clientIp: (c) => c.req.header('x-client-address'),
            onInvalid: (refusal, c) => c.json({ hidden: refusal.code }, 404),
            onError: (_error, c) => c.json({ latchkey: 'down' }, 502),
          }
        : {}),
    }),
  );
  app.get('/v1/sandboxes', (c) => {
    const verdict = c.get('latchkey');
    const seen: Seen = { keyId: verdict?.keyId ?? null, orgId: verdict?.orgId ?? null, verdictIsNull: verdict === null };
    return c.json(seen);
  });
  const server = await new Promise<ReturnType<typeof serve>>((ok) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => ok(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => ok());
      }),
  };
});
