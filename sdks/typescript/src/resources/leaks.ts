/** `lk.leaks`: secret scanners' reports of leaked keys. */
import { APIResource } from '../core/resource.js';
import type { RequestOptions } from '../core/transport.js';
import type { Schemas } from '../core/types.js';

/** A report as a scanner sends it: the raw JSON text and its signature. */
export interface SignedLeakReport {
  /** The JSON array of `{token, type, url, source}`, exactly the bytes signed. */
  body?: string;
  /** `Github-Public-Key-Identifier`: the `key_id` of a `[[leaks.signers]]` entry. */
  keyId?: string;
  /** `Github-Public-Key-Signature`: the base64 DER ECDSA P-256/SHA-256 signature of `body`. */
  signature?: string;
}

/** Reports of keys found in public places (what GitHub's secret scanning sends). */
export class Leaks extends APIResource {
  /**
   * `reportLeakedTokens`: one label per reported token, in order; a live key
   * of this service is revoked (or flagged). Needs no credential: the
   * signature is checked instead (401 when it does not match).
   */
  report(report: SignedLeakReport = {}, options?: RequestOptions): Promise<Schemas['LeakLabel'][]> {
    const headers: Record<string, string> = { ...options?.headers };
    if (report.keyId !== undefined) headers['github-public-key-identifier'] = report.keyId;
    if (report.signature !== undefined) headers['github-public-key-signature'] = report.signature;
    return this.transport.request({
      method: 'POST',
      path: '/v1/leaks',
      rawBody: report.body ?? '[]',
      options: { ...options, headers },
    });
  }
}
