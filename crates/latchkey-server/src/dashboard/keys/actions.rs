//! `Rotate` and `Revoke` on a key, from its row or its detail page:
//! `POST /v1/api-keys/{id}/rotate` and `…/revoke`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_api_types::{ApiKeyView, RotateApiKey};
use latchkey_core::id::KeyId;
use serde::Deserialize;

use super::create::CreateDialog;
use super::list::{Extras, ListParams};
use super::{HOME, Shown, detail};
use crate::audit::Audit;
use crate::dashboard::page::{done, short_time};
use crate::dashboard::session::Submitted;
use crate::error::ApiError;
use crate::extract::OptionalJson;
use crate::rotation::UNTIL_UNUSED;
use crate::routes::api_keys;
use crate::state::AppState;

/// The grace periods a rotation offers: (value, label); `now` is none,
/// `until-unused` takes the API's defaults ([`crate::rotation`]).
pub(super) const GRACE_PERIODS: [(&str, &str); 5] = [
    ("now", "Now"),
    ("15m", "15 minutes"),
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    (UNTIL_UNUSED, "Until unused for an hour (at most 7 days)"),
];

/// Where an action was taken, and where its answer goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Origin {
    /// The keys table.
    #[default]
    List,
    /// The key's detail page.
    Detail,
}

/// The rotate dialog's fields.
#[derive(Debug, Deserialize)]
pub(super) struct RotateForm {
    /// One of [`GRACE_PERIODS`]' values.
    #[serde(default)]
    grace: String,
    #[serde(default)]
    from: Origin,
}

/// The rotation's grace period for the choice `grace` (`None`: now).
fn grace_period(grace: &str) -> Result<Option<String>, ApiError> {
    match grace {
        "" | "now" => Ok(None),
        g if GRACE_PERIODS.iter().any(|(v, _)| *v == g) => Ok(Some(g.to_owned())),
        other => Err(ApiError::bad_request(format!("unknown grace period `{other}`"))),
    }
}

/// `POST /dashboard/keys/{id}/rotate`: the new key shown once, on the
/// page the rotation was asked from (the detail page: the new key's).
pub(super) async fn rotate(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<KeyId>,
    Submitted { viewer, form }: Submitted<RotateForm>,
) -> Result<Response, ApiError> {
    let req = RotateApiKey { grace_period: grace_period(&form.grace)?, ..RotateApiKey::default() };
    let (_, shown) =
        api_keys::rotate::rotate(State(state.clone()), viewer.caller.clone(), audit, Path(id), OptionalJson(req))
            .await?;
    let new = shown.0.data;
    let note = match form.grace.as_str() {
        "" | "now" => "The old key no longer works.".to_owned(),
        _ => {
            // The old key's end of grace: the rotation time plus the
            // period, or its wait until unused.
            let old = match &new.rotated_from {
                Some(old) => {
                    api_keys::get(State(state.clone()), viewer.caller.clone(), Path(KeyId::from(old.as_str())))
                        .await
                        .ok()
                        .map(|k| k.0.data)
                }
                None => None,
            };
            match old {
                Some(ApiKeyView { until_unused: Some(wait), .. }) => format!(
                    "The old key keeps working until it has gone unused for {}, at the latest until {}.",
                    wait.quiet_for,
                    short_time(&wait.max_grace_ends_at)
                ),
                Some(ApiKeyView { revoked_at: Some(t), .. }) => {
                    format!("The old key keeps working until {}.", short_time(&t))
                }
                _ => "The old key keeps working for the grace period.".to_owned(),
            }
        }
    };
    let shown = Shown { title: "Key rotated", name: new.name, key: new.key.unwrap_or_default(), note: Some(note) };
    match form.from {
        Origin::Detail => {
            detail::page(&state, &viewer, KeyId::from(new.id.as_str()), Some(shown), StatusCode::CREATED).await
        }
        Origin::List => {
            let extras = Extras {
                create: CreateDialog::closed(&state, &viewer).await?,
                shown: Some(shown),
                status: StatusCode::CREATED,
            };
            super::list::page(&state, &viewer, ListParams::default(), extras).await
        }
    }
}

/// The revoke dialog's fields.
#[derive(Debug, Deserialize)]
pub(super) struct RevokeForm {
    #[serde(default)]
    from: Origin,
}

/// `POST /dashboard/keys/{id}/revoke`: revoked at once, then back to where
/// it was asked from, with a notice.
pub(super) async fn revoke(
    State(state): State<AppState>,
    audit: Audit,
    Path(id): Path<KeyId>,
    Submitted { viewer, form }: Submitted<RevokeForm>,
) -> Result<Response, ApiError> {
    let revoked = api_keys::revoke(State(state), viewer.caller, audit, Path(id)).await?.0.data;
    Ok(match form.from {
        Origin::List => done(HOME, "revoked"),
        Origin::Detail => done(&format!("{HOME}/{}", revoked.id), "revoked"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_choices_are_the_offered_ones() {
        assert_eq!(grace_period("now").unwrap(), None);
        assert_eq!(grace_period("").unwrap(), None);
        for (g, _) in &GRACE_PERIODS[1..] {
            assert_eq!(grace_period(g).unwrap().as_deref(), Some(*g));
        }
        for bad in ["30d", "1h ", "forever"] {
            assert_eq!(grace_period(bad).unwrap_err().code(), "invalid_request", "{bad}");
        }
    }
}
