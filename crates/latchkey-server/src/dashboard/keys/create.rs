//! The `Create key` dialog and `POST /dashboard/keys` (`POST /v1/api-keys`):
//! the new key is shown once in the answer; a refusal re-opens the dialog
//! with the API's error and what was typed.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_api_types::{CreateApiKey, KeyOwner};
use serde::Deserialize;

use super::Shown;
use super::list::{Extras, ListParams, page};
use crate::audit::Audit;
use crate::dashboard::page::Problem;
use crate::dashboard::session::{Submitted, Viewer};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::keys::check_grant;
use crate::routes::{api_keys, me};
use crate::state::AppState;

/// The choices of the `Expires` menu: (value, label); `custom` takes the
/// date field.
pub(super) const EXPIRIES: [(&str, &str); 5] =
    [("never", "Never"), ("30d", "30 days"), ("90d", "90 days"), ("1y", "1 year"), ("custom", "Custom date")];

/// The create form's fields, as typed (re-shown after a refusal).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// One of [`EXPIRIES`]' values.
    #[serde(default)]
    pub expires: String,
    /// `YYYY-MM-DD`, with `expires=custom`.
    #[serde(default)]
    pub expires_on: String,
    /// `live` or `test`.
    #[serde(default)]
    pub environment: String,
    /// A project id, or empty.
    #[serde(default)]
    pub project: String,
    #[serde(default)]
    pub rate_limit_per_minute: String,
    #[serde(default)]
    pub rate_limit_per_day: String,
}

impl CreateForm {
    /// The API request these fields make. What only the form can get wrong
    /// (a choice not offered, a number that is not one) is refused here;
    /// everything else is the API's to judge.
    fn request(&self) -> Result<CreateApiKey, ApiError> {
        if self.scopes.is_empty() {
            return Err(ApiError::bad_request("choose at least one scope (`*` for everything you may do)"));
        }
        let (expires_in, expires_at) = match self.expires.as_str() {
            "" | "never" => (None, None),
            "custom" if self.expires_on.trim().is_empty() => {
                return Err(ApiError::bad_request("choose the custom expiry date"));
            }
            "custom" => (None, Some(format!("{}T00:00:00Z", self.expires_on.trim()))),
            d if EXPIRIES.iter().any(|(v, _)| *v == d) => (Some(d.to_owned()), None),
            other => return Err(ApiError::bad_request(format!("unknown expiry choice `{other}`"))),
        };
        let is_test = match self.environment.as_str() {
            "" | "live" => false,
            "test" => true,
            other => return Err(ApiError::bad_request(format!("environment must be live or test, not `{other}`"))),
        };
        Ok(CreateApiKey {
            name: self.name.clone(),
            scopes: self.scopes.clone(),
            expires_in,
            expires_at,
            is_test,
            project_id: Some(self.project.clone()).filter(|p| !p.is_empty()),
            rate_limit_per_minute: number("Rate limit per minute", &self.rate_limit_per_minute)?,
            rate_limit_per_day: number("Rate limit per day", &self.rate_limit_per_day)?,
            remaining: None,
            refill: None,
            owner: KeyOwner::User,
            allowed_cidrs: None,
        })
    }
}

/// An optional whole number typed into the field `label`.
fn number(label: &str, typed: &str) -> Result<Option<i64>, ApiError> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    typed.parse().map(Some).map_err(|_| ApiError::bad_request(format!("{label} must be a whole number")))
}

/// A scope's checkbox.
#[derive(Debug, Clone)]
pub(super) struct ScopeChoice {
    /// The scope (`sandbox:create`, `sandbox:*`, `*`): the box's name.
    pub scope: String,
    /// Checked (typed before a refusal).
    pub checked: bool,
    /// Why the viewer may not grant it, in the API's words.
    pub denied: Option<String>,
    /// Its position, for element ids.
    pub n: usize,
}

/// The scopes of one catalog resource (or `*` alone).
#[derive(Debug, Clone)]
pub(super) struct ScopeGroup {
    /// The resource (`sandbox`), or `all`.
    pub name: String,
    /// What it covers.
    pub description: String,
    pub choices: Vec<ScopeChoice>,
}

/// The `Create key` dialog: its choices, and the state it opens in.
#[derive(Debug)]
pub(super) struct CreateDialog {
    /// Opened when the page loads (after a refusal).
    pub open: bool,
    /// Why the last attempt was refused.
    pub problem: Option<Problem>,
    /// What was typed.
    pub form: CreateForm,
    /// The catalog's scopes, grouped by resource.
    pub groups: Vec<ScopeGroup>,
}

impl CreateDialog {
    /// The dialog as a page first shows it: closed and empty.
    pub async fn closed(state: &AppState, viewer: &Viewer) -> Result<Self, ApiError> {
        Self::new(state, viewer, CreateForm::default(), None).await
    }

    /// The dialog holding `form`, open with `problem` if there is one.
    async fn new(
        state: &AppState,
        viewer: &Viewer,
        form: CreateForm,
        problem: Option<Problem>,
    ) -> Result<Self, ApiError> {
        let catalog = me::scopes(State(state.clone()), viewer.caller.clone()).await?.0.data;
        let checked: BTreeSet<&str> = form.scopes.iter().map(String::as_str).collect();
        let mut groups: Vec<ScopeGroup> = Vec::new();
        for (n, s) in catalog.into_iter().enumerate() {
            // The grant check of `POST /v1/api-keys`, for this scope alone.
            let denied = match state.settings.catalog.parse_scopes(std::slice::from_ref(&s.scope)) {
                Ok(set) => check_grant(&viewer.caller, &set, viewer.caller.role).err().map(|e| e.message().to_owned()),
                Err(e) => Some(e.0.join(", ")),
            };
            let choice = ScopeChoice { checked: checked.contains(s.scope.as_str()), denied, n, scope: s.scope };
            let name = s.resource.unwrap_or_else(|| "all".to_owned());
            match groups.last_mut() {
                Some(g) if g.name == name => g.choices.push(choice),
                _ => groups.push(ScopeGroup { name, description: s.description, choices: vec![choice] }),
            }
        }
        Ok(Self { open: problem.is_some(), problem, form, groups })
    }
}

/// `POST /dashboard/keys`: creates the key, then shows the list with the
/// key in a dialog, once; or the list with the dialog open again, the
/// API's error in it.
pub(super) async fn create(
    State(state): State<AppState>,
    audit: Audit,
    Submitted { viewer, form }: Submitted<CreateForm>,
) -> Result<Response, ApiError> {
    let created = match form.request() {
        Ok(req) => api_keys::create(State(state.clone()), viewer.caller.clone(), audit, JsonBody(req)).await,
        Err(e) => Err(e),
    };
    let extras = match created {
        Ok((_, shown)) => {
            let key = shown.0.data;
            Extras {
                create: CreateDialog::closed(&state, &viewer).await?,
                shown: Some(Shown {
                    title: "Key created",
                    name: key.name,
                    key: key.key.unwrap_or_default(),
                    note: None,
                }),
                status: StatusCode::CREATED,
            }
        }
        Err(e) => {
            let problem = Problem::new(&e, viewer.request_id.as_deref());
            let create = CreateDialog::new(&state, &viewer, form, Some(problem)).await?;
            Extras { create, shown: None, status: e.status() }
        }
    };
    page(&state, &viewer, ListParams::default(), extras).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> CreateForm {
        CreateForm { name: "ci".into(), scopes: vec!["sandbox:create".into()], ..CreateForm::default() }
    }

    #[test]
    fn the_fields_make_the_api_request() {
        let req = CreateForm {
            expires: "90d".into(),
            environment: "test".into(),
            project: "prj_1".into(),
            rate_limit_per_minute: " 60 ".into(),
            rate_limit_per_day: String::new(),
            ..form()
        }
        .request()
        .unwrap();
        assert_eq!(req.expires_in.as_deref(), Some("90d"));
        assert_eq!(req.expires_at, None);
        assert!(req.is_test);
        assert_eq!(req.project_id.as_deref(), Some("prj_1"));
        assert_eq!((req.rate_limit_per_minute, req.rate_limit_per_day), (Some(60), None));
        assert_eq!(req.owner, KeyOwner::User);

        let plain = form().request().unwrap();
        assert_eq!((plain.expires_in, plain.expires_at, plain.is_test, plain.project_id), (None, None, false, None));
        let custom = CreateForm { expires: "custom".into(), expires_on: "2031-02-03".into(), ..form() };
        assert_eq!(custom.request().unwrap().expires_at.as_deref(), Some("2031-02-03T00:00:00Z"));
    }

    #[test]
    fn what_only_the_form_can_get_wrong_is_refused_with_a_reason() {
        for bad in [
            CreateForm { scopes: vec![], ..form() },
            CreateForm { expires: "custom".into(), ..form() },
            CreateForm { expires: "2d".into(), ..form() },
            CreateForm { environment: "prod".into(), ..form() },
            CreateForm { rate_limit_per_minute: "ten".into(), ..form() },
            CreateForm { rate_limit_per_day: "1.5".into(), ..form() },
        ] {
            let e = bad.request().unwrap_err();
            assert_eq!((e.status(), e.code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{bad:?}");
        }
    }
}
