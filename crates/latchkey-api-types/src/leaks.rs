//! Leaked keys: the secret-scanning report format GitHub sends to token
//! issuers (`POST /v1/leaks`), an admin's report (`POST
//! /v1/api-keys/{id}/report-leak`) and an organization's `leakAction`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Most tokens one `POST /v1/leaks` report may name.
pub const MAX_LEAK_REPORT_TOKENS: usize = 1_000;

/// What a report that a live key leaked does to it, per organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LeakAction {
    /// Revoke the key at once (the default).
    Revoke,
    /// Only mark it leaked (`leakedAt`); it keeps working.
    Flag,
}

/// One match of a secret scanner's report, in GitHub's secret scanning
/// partner format (snake_case, as GitHub sends it; fields GitHub may add
/// later are ignored).
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct LeakReportItem {
    /// The value found (a key of this service, or not).
    pub token: String,
    /// The scanner's name for the pattern that matched; echoed back as
    /// `token_type`.
    #[serde(rename = "type")]
    pub token_type: String,
    /// The public URL where it was found (may be empty).
    #[serde(default)]
    pub url: String,
    /// Where it was found (`content`, `commit`, `issue_comment`, …).
    #[serde(default)]
    pub source: String,
}

impl std::fmt::Debug for LeakReportItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakReportItem")
            .field("token", &"…")
            .field("token_type", &self.token_type)
            .field("url", &self.url)
            .field("source", &self.source)
            .finish()
    }
}

/// Whether a reported token is one of this service's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakVerdict {
    /// A key this service issued (live, revoked, expired or disabled).
    TruePositive,
    /// Not one: malformed, a wrong checksum, or no such key.
    FalsePositive,
}

/// The answer about one reported token, in the feedback format GitHub's
/// secret scanning accepts.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LeakLabel {
    /// SHA-256 of the token, lowercase hex (never the token itself).
    pub token_hash: String,
    /// The report's `type`.
    pub token_type: String,
    /// `true_positive` or `false_positive`.
    pub label: LeakVerdict,
}

/// `POST /v1/api-keys/{id}/report-leak` (the body is optional).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReportLeak {
    /// Where the key was found: an `http(s)://` URL of up to 2,048
    /// characters.
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub url: Option<String>,
}
