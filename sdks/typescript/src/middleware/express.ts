/**
 * `@latchkey/sdk/express`: protects Express routes with latchkey.
 *
 * ```ts
 * import { latchkeyAuth } from '@latchkey/sdk/express';
 * app.use('/v1', latchkeyAuth({ scopes: ['sandbox:read'] }));
 * app.get('/v1/sandboxes', (req, res) => res.json({ org: req.latchkey?.orgId }));
 * ```
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Verdict } from '../resources/keys.js';
import { clientAddress, decide, envelope, failureAnswer, missingKey, presentedKey, verifierClient } from './core.js';
import type { AuthOptions, Refusal } from './core.js';

export type { AuthOptions, FailureMode, Refusal } from './core.js';

declare global {
  namespace Express {
    interface Request {
      /** The verdict on the caller's key (`null` when let through by `failureMode: 'open'`). */
      latchkey?: Verdict | null;
    }
  }
}

/** The Express middleware's options: the shared ones and Express-shaped hooks. */
export interface ExpressAuthOptions extends AuthOptions {
  /** Reads the caller's key (default: `X-API-Key`, else `Authorization: Bearer`). */
  getKey?: (req: Request) => string | null | undefined | Promise<string | null | undefined>;
  /**
   * Reads the client's address, sent to latchkey for keys bound to networks
   * (default: `req.ip`, which follows Express's `trust proxy` setting).
   */
  clientIp?: (req: Request) => string | null | undefined;
  /** Answers a missing or refused key instead of the default 401/403/429 envelope. */
  onInvalid?: (refusal: Refusal, req: Request, res: Response, next: NextFunction) => unknown;
  /** Decides when the key could not be verified (latchkey unreachable, …) instead of `failureMode`. */
  onError?: (error: unknown, req: Request, res: Response, next: NextFunction) => unknown;
}

/** A middleware that lets a request through only with a valid key, its verdict in `req.latchkey`. */
export function latchkeyAuth(options: ExpressAuthOptions = {}): RequestHandler {
  const client = verifierClient(options);
  const mode = options.failureMode ?? 'closed';
  const refuse = async (refusal: Refusal, req: Request, res: Response, next: NextFunction): Promise<void> => {
    if (options.onInvalid) {
      await options.onInvalid(refusal, req, res, next);
      return;
    }
    send(res, refusal);
  };
  return (req, res, next) => {
    const run = async (): Promise<void> => {
      const key = options.getKey ? await options.getKey(req) : presentedKey((name) => req.get(name));
      if (!key) {
        await refuse(missingKey(), req, res, next);
        return;
      }
      const ip = clientAddress(options.clientIp ? options.clientIp(req) : req.ip);
      const decision = await decide(client, key, options, ip);
      switch (decision.kind) {
        case 'allow':
          req.latchkey = decision.verdict;
          next();
          return;
        case 'refuse':
          await refuse(decision.refusal, req, res, next);
          return;
        case 'error': {
          if (options.onError) {
            await options.onError(decision.error, req, res, next);
            return;
          }
          const answer = failureAnswer(decision.error, mode);
          if (answer === undefined) {
            req.latchkey = null;
            next();
            return;
          }
          send(res, answer);
        }
      }
    };
    run().catch(next);
  };
}

function send(res: Response, refusal: Refusal): void {
  res.status(refusal.status).set(refusal.headers).json(envelope(refusal));
}
