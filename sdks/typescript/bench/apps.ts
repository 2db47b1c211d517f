/**
 * The apps the middleware benchmark calls, in a process of their own (so the
 * measuring client does not share their event loop): an Express and a Hono
 * app, each with `GET /v1/sandboxes` behind `latchkeyAuth` and `GET /open`
 * without it. Reads LATCHKEY_API_KEY / LATCHKEY_API_URL (the service key);
 * prints `{"express": port, "hono": port}` once both listen.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import { Hono } from 'hono';
import { latchkeyAuth as expressAuth } from '../src/middleware/express.js';
import { latchkeyAuth as honoAuth } from '../src/middleware/hono.js';

const scopes = ['sandbox:read'];

const ex = express();
ex.get('/open', (_req, res) => {
  res.json({ keyId: null });
});
ex.use('/v1', expressAuth({ scopes }));
ex.get('/v1/sandboxes', (req, res) => {
  res.json({ keyId: req.latchkey?.keyId ?? null });
});

const hono = new Hono();
hono.get('/open', (c) => c.json({ keyId: null }));
hono.use('/v1/*', honoAuth({ scopes }));
hono.get('/v1/sandboxes', (c) => c.json({ keyId: c.get('latchkey')?.keyId ?? null }));

const expressPort = await new Promise<number>((ok) => {
  const s = ex.listen(0, '127.0.0.1', () => ok((s.address() as AddressInfo).port));
});
const honoPort = await new Promise<number>((ok) => {
  serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' }, (info) => ok(info.port));
});
console.log(JSON.stringify({ express: expressPort, hono: honoPort }));
