//! The organizations' data keys: unwrapped with the master key (from
//! [`crate::keyring`]) for whatever is sealed with them (secrets, connected
//! apps' tokens and client secrets), created on first use.

use axum::http::StatusCode;
use latchkey_core::crypto::{CryptoError, DataKey};
use latchkey_core::id::OrgId;
use latchkey_core::time_fmt::now_ms;
use latchkey_store::WrappedDataKey;

use crate::error::ApiError;
use crate::keyring::Keyring;
use crate::state::AppState;

/// A failure to seal or open, with what it was about (ids only).
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub(crate) struct SealError {
    /// What was sealed or opened (ids only).
    pub(crate) what: String,
    /// Why it failed.
    #[source]
    pub(crate) source: CryptoError,
}

pub(crate) fn keyring(state: &AppState) -> Result<&Keyring, ApiError> {
    state.keyring.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "secrets are unavailable: this server has no master key",
        )
    })
}

/// The organization's data key, unwrapped; created (and stored) first when
/// `create` and the organization has none yet.
pub(crate) async fn data_key(state: &AppState, org_id: &OrgId, create: bool) -> Result<Option<DataKey>, ApiError> {
    let ring = keyring(state)?;
    let wrapped = match state.store.data_key(org_id).await? {
        Some(w) => w,
        None if create => {
            let master = ring.current_fresh().map_err(|e| ApiError::internal(&e))?;
            let key = DataKey::generate().map_err(|e| ApiError::internal(&e))?;
            let now = now_ms();
            let fresh = WrappedDataKey {
                org_id: org_id.clone(),
                master_key_id: master.id().to_owned(),
                wrapped: master.wrap(org_id, &key).map_err(|e| ApiError::internal(&e))?,
                created_at: now,
                updated_at: now,
            };
            // Another node may have stored one first: use whichever won.
            let stored = state.store.insert_data_key(&fresh).await?;
            if stored.master_key_id == fresh.master_key_id && stored.wrapped == fresh.wrapped {
                tracing::info!(%org_id, master_key = master.id(), "created the organization's data key");
                return Ok(Some(key));
            }
            stored
        }
        None => return Ok(None),
    };
    let master = ring.get(&wrapped.master_key_id).map_err(|e| ApiError::internal(&e))?;
    let key = master.unwrap(org_id, &wrapped.wrapped).map_err(|e| {
        ApiError::internal(&SealError {
            what: format!("cannot unwrap the data key of {org_id} with master key {}", master.id()),
            source: e,
        })
    })?;
    Ok(Some(key))
}
