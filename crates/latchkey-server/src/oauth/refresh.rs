//! A connection's access token, fresh (issue 23, point 5): refreshed before
//! it is handed out when it is within 15 minutes of its expiry (or half its
//! lifetime, for short-lived tokens).
//!
//! At most one refresh per connection runs at a time, across nodes: a
//! caller that finds the token due takes the connection's refresh lease on
//! the version it read ([`latchkey_store::OAuthStore::try_lease`], one
//! conditional statement that a single caller wins). The winner asks the
//! provider and stores the answer while it still holds that lease, which
//! moves the version on; everyone else re-reads the row until the version
//! moves (or the lease lapses, when they try to take it themselves), then
//! hands out the new token. A rotated refresh token is always stored with
//! the access token (a provider that detects reuse of a rotated refresh
//! token revokes the whole grant).
//!
//! When the provider refuses the grant (`invalid_grant`), the connection
//! needs its owner again (`needs_reauthorization`, no retry). When it
//! cannot be reached or fails (a network error, a 5xx), refreshes of the
//! connection pause for a short cooldown and its still-valid token is
//! handed out meanwhile.

use std::time::Duration;

use axum::http::StatusCode;
use latchkey_core::time_fmt::{Millis, now_ms};
use latchkey_store::{OAuthConnection, RefreshedTokens};
use serde_json::json;

use super::OAuthProviderConfig;
use super::client::{self, TokenError};
use crate::audit::{Actor, Audit};
use crate::error::ApiError;
use crate::oauth::{ConnectionKey, connect_url, credentials, existing_key, open_tokens_with, seal_tokens};
use crate::state::AppState;

/// A token is refreshed once it has at most this long left…
const AHEAD_MS: Millis = 15 * 60 * 1000;
/// How long a refresh lease lasts: well beyond the provider's 10-second
/// timeout, so that a holder never loses it while its request is out.
const LEASE_MS: Millis = 30_000;
/// How long refreshes pause after the provider failed.
const COOLDOWN_MS: Millis = 5_000;
/// How often a caller waiting for another's refresh re-reads the row.
const POLL: Duration = Duration::from_millis(20);
/// How long a caller waits for another's refresh before giving up (the
/// holder's provider request times out well before).
const WAIT_MS: Millis = 20_000;

/// Whether `c`'s access token is due a refresh at `now`: it has at most 15
/// minutes left, or at most half the lifetime it had when it was stored
/// (`tokens_at`). A token without an expiry never is.
pub(crate) fn due(c: &OAuthConnection, now: Millis) -> bool {
    let Some(expires_at) = c.expires_at else { return false };
    let left = expires_at - now;
    let lifetime = expires_at - c.tokens_at;
    left <= AHEAD_MS.min(lifetime / 2)
}

/// Whether `c`'s access token still works at `now`.
fn valid(c: &OAuthConnection, now: Millis) -> bool {
    c.expires_at.is_none_or(|at| at > now)
}

/// 409 `needs_reauthorization`, naming where the owner reconnects.
pub(crate) fn needs_reauthorization(state: &AppState, c: &OAuthConnection, why: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "needs_reauthorization",
        format!("the connection {} to {} {why}: its owner must connect it again", c.id, c.provider),
    )
    .with_connect_url(connect_url(state, &c.provider))
}

/// 503 `provider_unavailable`: the token has expired and the provider could
/// not refresh it.
fn provider_unavailable(c: &OAuthConnection) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "provider_unavailable",
        format!("{} could not refresh the expired token of {}; try again shortly", c.provider, c.id),
    )
}

/// `c` with an access token that is not due (see the module doc): `c`
/// itself, or `c` as re-read after a refresh, this caller's or another's.
pub(crate) async fn fresh(
    state: &AppState,
    provider: &OAuthProviderConfig,
    mut c: OAuthConnection,
    audit: &Audit,
) -> Result<OAuthConnection, ApiError> {
    let give_up_at = now_ms() + WAIT_MS;
    loop {
        let now = now_ms();
        if c.status != latchkey_store::ConnectionStatus::Active {
            return Err(needs_reauthorization(state, &c, "is not active"));
        }
        if !due(&c, now) {
            return Ok(c);
        }
        if c.refresh_token_sealed.is_none() {
            // Nothing to refresh with: usable until it expires.
            return if valid(&c, now) {
                Ok(c)
            } else {
                Err(needs_reauthorization(state, &c, "has expired and the provider gave no refresh token"))
            };
        }
        if c.cooling_down_at(now) {
            return if valid(&c, now) { Ok(c) } else { Err(provider_unavailable(&c)) };
        }
        if !c.leased_at(now) {
            // A fresh, unique name for this attempt.
            let holder = ulid::Ulid::new().to_string();
            if state.store.try_lease(&c.org_id, &c.id, &holder, now, now + LEASE_MS, c.version).await? {
                return refresh_holding(state, provider, c, &holder, audit).await;
            }
        }
        // Another caller (on this node or another) is refreshing: wait
        // for the version to move, then hand out what it stored.
        if now >= give_up_at {
            return if valid(&c, now) { Ok(c) } else { Err(provider_unavailable(&c)) };
        }
        tokio::time::sleep(POLL).await;
        c = state
            .store
            .get_connection(&c.org_id, &c.id)
            .await?
            .ok_or_else(|| needs_reauthorization(state, &c, "was deleted meanwhile"))?;
    }
}

/// The refresh itself, by the holder of `c`'s lease on `c.version`.
async fn refresh_holding(
    state: &AppState,
    provider: &OAuthProviderConfig,
    c: OAuthConnection,
    holder: &str,
    audit: &Audit,
) -> Result<OAuthConnection, ApiError> {
    let outcome = ask_provider(state, provider, &c).await;
    let now = now_ms();
    match outcome {
        Ok(refreshed) => {
            if !state.store.store_refreshed(&c.org_id, &c.id, holder, &refreshed, c.version).await? {
                // Only if this node stalled past its lease while another
                // took it over: what the provider answered is lost.
                tracing::warn!(connection = %c.id, "a refresh outlived its lease; its answer was not stored");
            }
            state
                .store
                .get_connection(&c.org_id, &c.id)
                .await?
                .ok_or_else(|| needs_reauthorization(state, &c, "was deleted meanwhile"))
        }
        Err(Failure::Api(e)) => {
            state.store.release_lease(&c.org_id, &c.id, holder).await?;
            Err(e)
        }
        Err(Failure::Provider(TokenError::InvalidGrant(why))) => {
            tracing::info!(connection = %c.id, provider = %c.provider, reason = %why, "the provider refused the grant");
            let event = audit.event(
                Some(&c.org_id),
                Actor { kind: "system", id: None },
                "oauth.connection.needs_reauthorization",
                Some(("oauth_connection", &c.id)),
                &json!({"provider": c.provider, "accountLabel": c.account_label, "reason": why}),
            );
            state.store.mark_needs_reauthorization(&c.org_id, &c.id, c.version, now, &event).await?;
            Err(needs_reauthorization(state, &c, "was refused by the provider (invalid_grant)"))
        }
        Err(Failure::Provider(TokenError::Other(why))) => {
            tracing::warn!(connection = %c.id, provider = %c.provider, error = %why, "a refresh failed; cooling down");
            // The cooldown before the lease goes, so that nobody starts
            // another refresh in between.
            state.store.set_cooldown(&c.org_id, &c.id, now + COOLDOWN_MS).await?;
            state.store.release_lease(&c.org_id, &c.id, holder).await?;
            if valid(&c, now) { Ok(c) } else { Err(provider_unavailable(&c)) }
        }
    }
}

/// What can go wrong in [`ask_provider`].
enum Failure {
    /// On this side (the data key, the credentials).
    Api(ApiError),
    /// At the provider.
    Provider(TokenError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

/// Refreshes `c` (which has a refresh token: [`fresh`] checked) at the
/// provider and seals the answer with the key that opened it.
async fn ask_provider(
    state: &AppState,
    provider: &OAuthProviderConfig,
    c: &OAuthConnection,
) -> Result<RefreshedTokens, Failure> {
    let key = existing_key(state, &c.org_id, "a connection").await?;
    let refresh_token = open_tokens_with(&key, c)?.refresh.ok_or_else(|| {
        ApiError::internal(&std::io::Error::other(format!("connection {} has no refresh token to use", c.id)))
    })?;
    let creds = credentials(state, &c.org_id, provider).await?;
    let http = client::http_client();
    let now = now_ms();
    let tokens = client::refresh(&http, provider, &creds, &refresh_token, now).await.map_err(Failure::Provider)?;
    let (access, refresh) = seal_tokens(&key, ConnectionKey::of(c), &tokens)?;
    Ok(RefreshedTokens {
        access_token_sealed: access,
        // A provider that does not rotate keeps the one we have.
        refresh_token_sealed: refresh.or_else(|| c.refresh_token_sealed.clone()),
        token_type: tokens.token_type.clone(),
        expires_at: tokens.expires_at,
        granted_scopes: tokens.granted_scopes.as_ref().map(|s| s.join(" ")),
        at: now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(tokens_at: Millis, expires_at: Option<Millis>) -> OAuthConnection {
        OAuthConnection {
            id: "ocn_1".into(),
            org_id: "org_1".into(),
            owner_user_id: None,
            provider: "github".into(),
            account_id: "42".into(),
            account_label: "octocat".into(),
            requested_scopes: String::new(),
            granted_scopes: String::new(),
            access_token_sealed: Vec::new(),
            refresh_token_sealed: None,
            token_type: "bearer".into(),
            expires_at,
            status: latchkey_store::ConnectionStatus::Active,
            is_default: true,
            version: 1,
            refresh_lease_until: None,
            refresh_lease_holder: None,
            cooldown_until: None,
            tokens_at,
            created_at: 0,
            // A later change of another kind (a new default) moves
            // `updated_at`, not the token's lifetime.
            updated_at: tokens_at + 3_000_000,
        }
    }

    #[test]
    fn tokens_are_due_fifteen_minutes_ahead_or_at_half_their_lifetime() {
        let hour = 3_600_000;
        // An hour-long token: due with 15 minutes left.
        let c = connection(0, Some(hour));
        assert!(!due(&c, hour - AHEAD_MS - 1));
        assert!(due(&c, hour - AHEAD_MS));
        // A 10-minute token: due at half its life, not at once.
        let c = connection(0, Some(600_000));
        assert!(!due(&c, 299_999));
        assert!(due(&c, 300_000));
        // Expired: due. No expiry: never.
        assert!(due(&connection(0, Some(1_000)), 2_000));
        assert!(!due(&connection(0, None), i64::MAX / 2));
    }
}
