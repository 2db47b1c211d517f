//! `/v1/projects`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::present;

/// `POST /v1/projects`
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProject {
    /// Display name, 1–255 characters.
    #[schema(value_type = crate::constraints::Name)]
    pub name: String,
    /// Optional description (≤ 1,000 characters).
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: Option<String>,
}

/// `PATCH /v1/projects/{id}`
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateProject {
    /// New name.
    #[serde(default)]
    #[schema(value_type = Option<crate::constraints::Name>)]
    pub name: Option<String>,
    /// New description; `null` clears it.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1000)]
    pub description: Option<Option<String>>,
}

/// A project.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    /// `prj_…`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_description_clears() {
        let p: UpdateProject = serde_json::from_str(r#"{"description":null}"#).unwrap();
        assert_eq!(p.description, Some(None));
        let p: UpdateProject = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(p.description, None);
    }
}
