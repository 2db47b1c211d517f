//! API views of stored records that more than one route shows (a route's
//! own views stay in its file).

use latchkey_api_types::OrgView;
use latchkey_core::Role;
use latchkey_core::time_fmt::to_rfc3339;
use latchkey_store::Org;

/// An organization as a member of role `role` sees it.
pub(crate) fn org_view(o: &Org, role: Role) -> OrgView {
    OrgView {
        id: o.id.to_string(),
        name: o.name.clone(),
        slug: o.slug.clone(),
        role: Some(role.as_str().to_owned()),
        members_see_all_keys: Some(o.members_see_all_keys),
        created_at: Some(to_rfc3339(o.created_at)),
    }
}
