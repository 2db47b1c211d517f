//! Projects, and the Runtype profile's products and surfaces.

use latchkey_core::id::{OrgId, ProductId, ProjectId, SurfaceId};
use latchkey_core::time_fmt::Millis;

/// A project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// `prj_…`
    pub id: ProjectId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// Optional description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
}

/// Changes to a project; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
}

/// A Runtype product: a container for surfaces (organization-owned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// `prd_…`
    pub id: ProductId,
    /// Owning organization.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: Millis,
}

/// A Runtype surface of a product: what surface keys are bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surface {
    /// `srf_…`
    pub id: SurfaceId,
    /// Owning organization.
    pub org_id: OrgId,
    /// The product.
    pub product_id: ProductId,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: Millis,
}
