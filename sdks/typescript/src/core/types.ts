/**
 * Types of each operation's parameters and answers, read from the types that
 * openapi-typescript generates from `docs/openapi.json` (src/generated/openapi.ts),
 * so that a change of the contract changes the SDK's signatures.
 */
import type { components, operations } from '../generated/openapi.js';

/** Every `operationId` of the contract. */
export type OperationId = keyof operations;

/** The schemas of the contract, by name. */
export type Schemas = components['schemas'];

type Params<O extends OperationId> = operations[O]['parameters'];

/** The query parameters of an operation (`{}` when it has none). */
export type QueryOf<O extends OperationId> =
  NonNullable<Params<O>['query']> extends infer Q ? ([Q] extends [never] ? Record<never, never> : Q) : never;

/** The JSON request body of an operation. */
export type BodyOf<O extends OperationId> =
  NonNullable<operations[O]['requestBody']> extends { content: { 'application/json': infer B } } ? B : never;

type Responses<O extends OperationId> = operations[O]['responses'];
type SuccessStatus<O extends OperationId> = Extract<keyof Responses<O>, 200 | 201>;
type JsonContent<R> = R extends { content: { 'application/json': infer B } } ? B : never;

/** The JSON body of an operation's successful answer (200 or 201). */
export type ResponseOf<O extends OperationId> = JsonContent<Responses<O>[SuccessStatus<O>]>;

/** What a method returns: the `data` of a `{"data": …}` answer, else the answer itself. */
export type DataOf<O extends OperationId> = ResponseOf<O> extends { data: infer D } ? D : ResponseOf<O>;

/** The item type of a paged list operation (`{"data": [T], "nextCursor"}`). */
export type ItemOf<O extends OperationId> = ResponseOf<O> extends { data: (infer T)[] } ? T : never;
