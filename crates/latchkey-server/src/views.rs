//! API views of stored records that more than one route shows (a route's
//! own views stay in its file), and the answer shape of those that show a
//! secret ([`no_store`]).

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use latchkey_api_types::{Data, OrgView, RefillIntervalView, RefillView};
use latchkey_core::Role;
use latchkey_core::time_fmt::to_rfc3339;
use latchkey_store::{LeakAction, Org, Refill, RefillInterval};

/// An organization as a member of role `role` sees it.
pub(crate) fn org_view(o: &Org, role: Role) -> OrgView {
    OrgView {
        id: o.id.to_string(),
        name: o.name.clone(),
        slug: o.slug.clone(),
        role: Some(role.as_str().to_owned()),
        members_see_all_keys: Some(o.members_see_all_keys),
        leak_action: Some(leak_action_view(o.leak_action)),
        created_at: Some(to_rfc3339(o.created_at)),
    }
}

/// A key's credit refill on the wire.
pub(crate) fn refill_view(r: Refill) -> RefillView {
    RefillView {
        amount: r.amount,
        interval: match r.interval {
            RefillInterval::Daily => RefillIntervalView::Daily,
            RefillInterval::Monthly => RefillIntervalView::Monthly,
        },
    }
}

/// An organization's `leakAction` on the wire.
pub(crate) fn leak_action_view(a: LeakAction) -> latchkey_api_types::LeakAction {
    match a {
        LeakAction::Revoke => latchkey_api_types::LeakAction::Revoke,
        LeakAction::Flag => latchkey_api_types::LeakAction::Flag,
    }
}

/// A `leakAction` from the wire, as stored.
pub(crate) fn stored_leak_action(a: latchkey_api_types::LeakAction) -> LeakAction {
    match a {
        latchkey_api_types::LeakAction::Revoke => LeakAction::Revoke,
        latchkey_api_types::LeakAction::Flag => LeakAction::Flag,
    }
}

/// `{"data": …}` holding a secret value or token (a revealed secret, an
/// access token): `Cache-Control: no-store`, so no cache on the way keeps
/// it.
pub(crate) fn no_store<T: serde::Serialize>(data: T) -> Response {
    let mut res = Json(Data { data }).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
