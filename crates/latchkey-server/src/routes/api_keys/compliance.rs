//! `GET /v1/api-keys?compliant=…`: a page of the keys that keep (or break)
//! the organization's key policy, decided per key in the server
//! (`latchkey_core::policy::violations`, the one home of the rules) over
//! the store's pages.

use latchkey_core::id::OrgId;
use latchkey_store::{ApiKeyRecord, KeyFilter, Page};

use crate::error::ApiError;
use crate::state::AppState;

/// Most keys one request reads from storage; a page that has not filled by
/// then is answered short, with a cursor to go on from.
const MAX_SCANNED: usize = 10_000;

/// Up to `page.limit` keys of `org_id` matching `filter` that `keeps`
/// accepts, newest first, and the cursor of the next page: read through
/// the store's pages of 100 from `page`'s cursor, at most [`MAX_SCANNED`]
/// keys per request.
pub(super) async fn filtered(
    state: &AppState,
    org_id: &OrgId,
    filter: &KeyFilter,
    page: Page,
    keeps: impl Fn(&ApiKeyRecord) -> bool,
) -> Result<(Vec<ApiKeyRecord>, Option<String>), ApiError> {
    let limit = page.limit as usize;
    let mut out = Vec::with_capacity(limit + 1);
    let mut before = page.before;
    let mut scanned = 0;
    loop {
        let chunk = Page { limit: 100, before: before.clone() };
        let mut rows = state.store.list_keys(org_id, filter, &chunk).await?;
        let more = rows.len() > 100;
        rows.truncate(100);
        for k in rows {
            scanned += 1;
            before = Some(k.id.to_string());
            if keeps(&k) {
                out.push(k);
                if out.len() > limit {
                    // One more than a page: there is a next page, after
                    // the page's last key.
                    out.truncate(limit);
                    let next = out.last().map(|k| k.id.to_string());
                    return Ok((out, next));
                }
            }
        }
        if !more {
            return Ok((out, None));
        }
        if scanned >= MAX_SCANNED {
            return Ok((out, before));
        }
    }
}
