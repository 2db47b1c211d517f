//! Organizations' key policies.

use async_trait::async_trait;
use latchkey_core::KeyHash;
use latchkey_core::ScopeSet;
use latchkey_core::id::OrgId;
use latchkey_core::policy::{KeyPolicy, MaxLifetime};
use latchkey_core::time_fmt::Millis;

use super::rows::{cidrs, cidrs_text, key_hash};
use super::{Dialect, ReadRow, SqlStore, commit, query};
use crate::{AuditEvent, KeyPolicyStore, StoreError, StoreResult};

/// A policy row.
fn policy(r: &impl ReadRow) -> StoreResult<KeyPolicy> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("org_key_policies.{what}"));
    let allowed_scopes = match r.opt_text("allowed_scopes")? {
        Some(text) => Some(ScopeSet::from_stored(
            &serde_json::from_str::<Vec<String>>(&text).map_err(|_| corrupt("allowed_scopes"))?,
        )),
        None => None,
    };
    Ok(KeyPolicy {
        max_lifetime: r
            .opt_text("max_lifetime")?
            .map(|t| MaxLifetime::parse(&t))
            .transpose()
            .map_err(|_| corrupt("max_lifetime"))?,
        require_expiry: r.bool("require_expiry")?,
        forbid_wildcard_in_live: r.bool("forbid_wildcard_in_live")?,
        allowed_scopes,
        default_rate_limit_per_minute: r.opt_i64("default_rate_limit_per_minute")?,
        default_rate_limit_per_day: r.opt_i64("default_rate_limit_per_day")?,
        allowed_cidrs: cidrs(r, "allowed_cidrs", "org_key_policies")?,
    })
}

#[async_trait]
impl<D: Dialect> KeyPolicyStore for SqlStore<D> {
    async fn key_policy(&self, org_id: &OrgId) -> StoreResult<KeyPolicy> {
        let row = query::<D>(
            "SELECT max_lifetime, require_expiry, forbid_wildcard_in_live, allowed_scopes, \
             default_rate_limit_per_minute, default_rate_limit_per_day, allowed_cidrs \
             FROM org_key_policies WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map_or_else(|| Ok(KeyPolicy::default()), policy)
    }

    async fn put_key_policy(
        &self,
        org_id: &OrgId,
        p: &KeyPolicy,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<Vec<KeyHash>> {
        let mut tx = D::begin_write(&self.pool).await?;
        let old = query::<D>(for_update!(D, "SELECT allowed_cidrs FROM org_key_policies WHERE org_id = $1"))
            .bind(org_id)
            .fetch_optional(&mut *tx)
            .await?;
        let old_cidrs = old.map(|r| r.opt_text("allowed_cidrs")).transpose()?.flatten();
        let new_cidrs = cidrs_text(p.allowed_cidrs.as_ref());
        let scopes = p.allowed_scopes.as_ref().map(|s| serde_json::to_string(s).unwrap_or_else(|_| "[]".to_owned()));
        query::<D>(
            "INSERT INTO org_key_policies (org_id, max_lifetime, require_expiry, forbid_wildcard_in_live, \
             allowed_scopes, default_rate_limit_per_minute, default_rate_limit_per_day, allowed_cidrs, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (org_id) DO UPDATE SET max_lifetime = excluded.max_lifetime, \
             require_expiry = excluded.require_expiry, forbid_wildcard_in_live = excluded.forbid_wildcard_in_live, \
             allowed_scopes = excluded.allowed_scopes, \
             default_rate_limit_per_minute = excluded.default_rate_limit_per_minute, \
             default_rate_limit_per_day = excluded.default_rate_limit_per_day, \
             allowed_cidrs = excluded.allowed_cidrs, updated_at = excluded.updated_at",
        )
        .bind(org_id)
        .bind(p.max_lifetime.as_ref().map(MaxLifetime::as_str))
        .bind(p.require_expiry)
        .bind(p.forbid_wildcard_in_live)
        .bind(&scopes)
        .bind(p.default_rate_limit_per_minute)
        .bind(p.default_rate_limit_per_day)
        .bind(&new_cidrs)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let affected = if old_cidrs == new_cidrs {
            Vec::new()
        } else {
            let rows = query::<D>("SELECT key_hash FROM api_keys WHERE org_id = $1 AND allowed_cidrs IS NULL")
                .bind(org_id)
                .fetch_all(&mut *tx)
                .await?;
            rows.iter().map(|r| key_hash(r, "key_hash", "api_keys")).collect::<StoreResult<_>>()?
        };
        commit::<D>(tx, std::slice::from_ref(event)).await?;
        Ok(affected)
    }
}
