/** Checking what the SDK throws when latchkey refuses. */
import assert from 'node:assert/strict';
import type { LatchkeyError } from '../../src/index.js';

/** The error `promise` rejects with, checked to be a `cls` with `status` and `code`. */
export async function refusal<E extends LatchkeyError>(
  promise: PromiseLike<unknown>,
  cls: abstract new (...args: never[]) => E,
  status: number | undefined,
  code: string,
): Promise<E> {
  const error = await Promise.resolve(promise).then(
    () => assert.fail('expected an error'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof cls, `${String(error)} is not a ${cls.name}`);
  assert.equal(error.status, status, error.message);
  assert.equal(error.code, code, error.message);
  return error;
}
