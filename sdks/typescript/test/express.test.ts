/** `@latchkey/sdk/express` protecting a small Express app. */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { latchkeyAuth } from '../src/middleware/express.js';
import { middlewareSuite } from './helpers/middleware-suite.js';
import type { Seen } from './helpers/middleware-suite.js';

middlewareSuite('Express', async (options, hooks) => {
  const app = express();
  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(
    '/v1',
    latchkeyAuth({
      ...options,
      ...(hooks
        ? {
            getKey: (req) => (typeof req.query['api_key'] === 'string' ? req.query['api_key'] : undefined),
            clientIp: (req) => req.get('x-client-address'),
            onInvalid: (refusal, _req, res) => res.status(404).json({ hidden: refusal.code }),
            onError: (_error, _req, res) => res.status(502).json({ latchkey: 'down' }),
          }
        : {}),
    }),
  );
  app.get('/v1/sandboxes', (req, res) => {
    const seen: Seen = {
      keyId: req.latchkey?.keyId ?? null,
      orgId: req.latchkey?.orgId ?? null,
      verdictIsNull: req.latchkey === null,
    };
    res.json(seen);
  });
  const server = await new Promise<ReturnType<typeof app.listen>>((ok) => {
    const s = app.listen(0, '127.0.0.1', () => ok(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
});
