//! latchkey's wire format: request bodies, response views and the envelopes,
//! shared by the server, the client and the CLI.
//!
//! Conventions (RunTools): JSON in camelCase; success is `{"data": …}` (plus
//! `"message"` where a secret is shown once, and `"nextCursor"` on pages);
//! failure is `{"error": {"code", "message"}}`. Request bodies refuse unknown
//! fields. The compatibility profiles' own shapes are in [`runloop`] and
//! [`runtype`].
//!
//! This file holds the envelopes; the native API's shapes are in one module
//! per resource (API keys, projects, people and sessions, organizations,
//! verification), re-exported here, so every type is at the crate's root.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

mod cli_login;
mod constraints;
mod explain;
mod key_import;
mod keys;
mod leaks;
pub mod oauth;
mod orgs;
mod people;
mod projects;
pub mod runloop;
pub mod runtype;
pub mod secrets;
mod sign_in;
mod verify;
pub mod webhooks;
pub mod workspaces;

pub use cli_login::{CliToken, DeviceCode, DeviceCodeRequest, DeviceToken};
pub use constraints::SecretName;
pub use explain::{
    ComplianceView, CreditsView, ExplainKey, ExplainView, LimitsView, NetworkView, PermissionReason, PermissionView,
    VerdictView, ViolationView,
};
pub use key_import::{
    ExportedApiKey, HashAlgorithm, HashEncodingView, ImportApiKey, ImportedKeys, KeyHashView, MAX_IMPORT_KEYS,
};
pub use keys::{
    ApiKeyView, CreateApiKey, CreateApiKeys, KeyEnvironment, KeyOwner, KeyStatus, MAX_BATCH_KEYS, RefillIntervalView,
    RefillView, RotateApiKey, TransferApiKey, UNTIL_UNUSED, UntilUnusedView, UpdateApiKey, UsageDayView,
};
pub use leaks::{LeakAction, LeakLabel, LeakReportItem, LeakVerdict, MAX_LEAK_REPORT_TOKENS, ReportLeak};
pub use orgs::{
    AcceptInvitation, AuditEventView, CreateInvitation, CreateOrg, InvitationView, KeyPolicyView, MemberView, OrgView,
    SwitchOrg, UpdateMember, UpdateOrg,
};
pub use people::{InvitedSignUp, Login, MeView, ScopeView, SessionGrant, SessionView, SignUp, UserView};
pub use projects::{CreateProject, ProjectView, UpdateProject};
pub use sign_in::{IdentityView, OidcProviderView};
pub use verify::{RateLimitView, VerifyCode, VerifyKey, VerifyView};

/// `{"data": …}`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Data<T> {
    /// The payload.
    pub data: T,
}

/// `{"data": …, "message": …}`: the response that shows a secret once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Shown<T> {
    /// The payload, including the secret.
    pub data: T,
    /// The warning that goes with it.
    pub message: String,
}

/// The message that goes with every shown-once key.
pub const SHOWN_ONCE: &str = "Store this key securely. You will not be able to see it again.";

/// A page of a list: `{"data": […], "nextCursor": "…" | null}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    /// Items, newest first.
    pub data: Vec<T>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// `{"error": {"code", "message"}}`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// The body of an error.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable machine-readable code (`unauthorized`, `invalid_scopes`, …).
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// Where the person can connect (or reconnect) the app a connected-app
    /// error is about (`POST /v1/oauth/token`'s `not_connected`,
    /// `needs_reauthorization`, `insufficient_scope`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_url: Option<String>,
    /// Which item of a batch (`POST /v1/api-keys/batch`'s `keys`, from 0)
    /// or of an import (`POST /v1/api-keys/import`'s keys, from 0, blank
    /// lines not counted) the error is about; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The key policy rule a `policy_violation` names (`maxLifetime`,
    /// `requireExpiry`, `forbidWildcardInLive`, `allowedScopes`,
    /// `allowedCidrs`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// Tells a field that is present with `null` from an absent one.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// `{type, id}` of an actor or target.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefView {
    /// `user`, `key`, `api_key`, `member`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The id.
    pub id: Option<String>,
}
