//! `/v1/oauth/…`: connected apps (issue 23). latchkey is the OAuth client
//! of the providers in the operator's catalog (`[[oauth.providers]]`);
//! people connect their accounts there, and the platform's tools get a
//! fresh access token from latchkey.
//!
//! * `providers.rs`: the catalog as the caller's organization sees it, and
//!   the organization's own client credentials (admins; the secret sealed
//!   with the organization's data key, never shown again).
//! * `connect.rs`: starting a connect (`POST /v1/oauth/connect`) and
//!   polling it; `callback.rs`: the browser's half, the authorization page
//!   that only the person who asked may pass, and the one callback of
//!   every provider, which stores the connection.
//! * `connections.rs`: listing, disconnecting (revoked at the provider)
//!   and choosing the default.
//! * `token.rs`: a fresh access token for the platform's tools (`POST
//!   /v1/oauth/token`, a reserved scope; refreshed by
//!   `crate::oauth::refresh`).
//!
//! Who may do what (docs/API.md has the table): reading needs `oauth:read`
//! and changes `oauth:write` (a session holds both); a person's connection
//! exists only for its owner (anyone else gets 404, except an admin, who
//! lists every member's with `allOrg=true` and may disconnect them); the
//! organization's shared connections are visible to every member and made,
//! disconnected and made the default by admins only. Tokens never leave in
//! an answer of these routes.

pub(crate) mod callback;
pub(crate) mod connect;
pub(crate) mod connections;
pub(crate) mod providers;
pub(crate) mod token;
