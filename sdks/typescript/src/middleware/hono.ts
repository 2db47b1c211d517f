/**
 * `@latchkey/sdk/hono`: protects Hono routes with latchkey.
 *
 * ```ts
 * import { latchkeyAuth } from '@latchkey/sdk/hono';
 * app.use('/v1/*', latchkeyAuth({ scopes: ['sandbox:read'] }));
 * app.get('/v1/sandboxes', (c) => c.json({ org: c.get('latchkey')?.orgId }));
 * ```
 */
import type { Context, MiddlewareHandler, Next } from 'hono';
import type { Verdict } from '../resources/keys.js';
import { clientAddress, decide, envelope, failureAnswer, missingKey, presentedKey, verifierClient } from './core.js';
import type { AuthOptions, Refusal } from './core.js';

export type { AuthOptions, FailureMode, Refusal } from './core.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** The verdict on the caller's key (`null` when let through by `failureMode: 'open'`). */
    latchkey: Verdict | null;
  }
}

/** The Hono middleware's options: the shared ones and Hono-shaped hooks. */
export interface HonoAuthOptions extends AuthOptions {
  /** Reads the caller's key (default: `X-API-Key`, else `Authorization: Bearer`). */
  getKey?: (c: Context) => string | null | undefined | Promise<string | null | undefined>;
  /**
   * Reads the client's address, sent to latchkey for keys bound to networks.
   * Hono has no address of its own: the default is the peer of
   * `@hono/node-server` (`c.env.incoming.socket.remoteAddress`), else none;
   * elsewhere, or behind a proxy, pass the runtime's (`getConnInfo(c).remote.address`).
   */
  clientIp?: (c: Context) => string | null | undefined;
  /** Answers a missing or refused key instead of the default 401/403/429 envelope. */
  onInvalid?: (refusal: Refusal, c: Context, next: Next) => Response | void | Promise<Response | void>;
  /**
   * Decides when the key could not be verified (latchkey unreachable, …)
   * instead of `failureMode`: return a `Response`, or call `next()`.
   */
  onError?: (error: unknown, c: Context, next: Next) => Response | void | Promise<Response | void>;
}

/** A middleware that lets a request through only with a valid key, its verdict in `c.get('latchkey')`. */
export function latchkeyAuth(options: HonoAuthOptions = {}): MiddlewareHandler {
  const client = verifierClient(options);
  const mode = options.failureMode ?? 'closed';
  const refuse = async (refusal: Refusal, c: Context, next: Next): Promise<Response | void> =>
    options.onInvalid ? options.onInvalid(refusal, c, next) : answer(c, refusal);
  return async (c, next) => {
    const key = options.getKey ? await options.getKey(c) : presentedKey((name) => c.req.header(name));
    if (!key) return refuse(missingKey(), c, next);
    const ip = clientAddress(options.clientIp ? options.clientIp(c) : nodePeer(c));
    const decision = await decide(client, key, options, ip);
    switch (decision.kind) {
      case 'allow':
        c.set('latchkey', decision.verdict);
        await next();
        return undefined;
      case 'refuse':
        return refuse(decision.refusal, c, next);
      case 'error': {
        if (options.onError) return options.onError(decision.error, c, next);
        const failure = failureAnswer(decision.error, mode);
        if (failure !== undefined) return answer(c, failure);
        c.set('latchkey', null);
        await next();
        return undefined;
      }
    }
  };
}

/** The peer address under `@hono/node-server`, which puts Node's request in `c.env.incoming`. */
function nodePeer(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: unknown } } } | undefined;
  const address = env?.incoming?.socket?.remoteAddress;
  return typeof address === 'string' ? address : undefined;
}

function answer(c: Context, refusal: Refusal): Response {
  return c.json(envelope(refusal), refusal.status, refusal.headers);
}
