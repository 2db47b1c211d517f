//! The `Create workspace` form: what was typed, the API request it makes,
//! and how sizes read (quotas, files' sizes).

use latchkey_api_types::workspaces::{CreateWorkspace, WorkspaceKind};
use serde::Deserialize;

use crate::error::ApiError;

/// The quota's units: (value, bytes). Binary units, as storage is counted.
pub(super) const UNITS: [(&str, i64); 3] = [("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40)];

/// The unit the form suggests.
pub(super) const DEFAULT_UNIT: &str = "GiB";

/// The create form's fields, as typed (shown again after a refusal).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateForm {
    #[serde(default)]
    pub name: String,
    /// `org` or `personal`.
    #[serde(default)]
    pub kind: String,
    /// A project id, or empty.
    #[serde(default)]
    pub project: String,
    /// A number of [`CreateForm::quota_unit`], or empty: no quota.
    #[serde(default)]
    pub quota: String,
    /// One of [`UNITS`].
    #[serde(default)]
    pub quota_unit: String,
    /// The list the form was on (every member's, its page).
    #[serde(default)]
    pub all: bool,
    pub cursor: Option<String>,
}

impl CreateForm {
    /// Whether the organization kind is chosen.
    pub fn is_org(&self) -> bool {
        self.kind == "org"
    }

    /// The API request these fields make. What only the form can get wrong
    /// (a choice not offered, a quota that is not a number) is refused
    /// here; everything else is the API's to judge.
    pub fn request(&self) -> Result<CreateWorkspace, ApiError> {
        let kind = match self.kind.as_str() {
            "org" => WorkspaceKind::Org,
            "personal" | "" => WorkspaceKind::Personal,
            other => return Err(ApiError::bad_request(format!("kind must be org or personal, not `{other}`"))),
        };
        Ok(CreateWorkspace {
            name: self.name.trim().to_owned(),
            kind,
            project_id: Some(self.project.clone()).filter(|p| !p.is_empty()),
            quota_bytes: quota_bytes(&self.quota, &self.quota_unit)?,
        })
    }
}

/// The quota typed: `typed` of `unit`, in bytes (`None`: no quota). A
/// fraction is allowed (`1.5` GiB) and rounded to a byte; zero or less is
/// passed on for the API to refuse.
fn quota_bytes(typed: &str, unit: &str) -> Result<Option<i64>, ApiError> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    let Some(&(_, per_unit)) = UNITS.iter().find(|(u, _)| *u == unit) else {
        return Err(ApiError::bad_request(format!("the quota's unit must be MiB, GiB or TiB, not `{unit}`")));
    };
    let number = typed
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && typed.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-'))
        .ok_or_else(|| ApiError::bad_request(format!("the quota must be a number of {unit}, like 10 or 1.5")))?;
    // Within i64 (and an f64's exact integers) for any quota anyone sets.
    let bytes = (number * per_unit as f64).round();
    if bytes.abs() > 2f64.powi(53) {
        return Err(ApiError::bad_request("the quota is larger than any store holds"));
    }
    Ok(Some(bytes as i64))
}

/// `bytes` as a person reads it: `512 B`, `1.5 KiB`, `10 GiB` (binary
/// units, the largest that reads at least 1 once rounded to a tenth; one
/// decimal when not whole).
pub(super) fn size_label(bytes: u64) -> String {
    const NAMES: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Tenths of `unit` in `bytes`, rounded.
    let tenths = |unit: u128| (u128::from(bytes) * 10 + unit / 2) / unit;
    let (mut shown, mut name) = (tenths(1024), NAMES[0]);
    for (i, n) in NAMES.iter().enumerate().skip(1) {
        let t = tenths(1u128 << (10 * (i + 1)));
        if t < 10 {
            break;
        }
        (shown, name) = (t, n);
    }
    if shown % 10 == 0 { format!("{} {name}", shown / 10) } else { format!("{}.{} {name}", shown / 10, shown % 10) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(kind: &str, quota: &str, unit: &str) -> CreateForm {
        CreateForm {
            name: "  scratch ".into(),
            kind: kind.into(),
            project: String::new(),
            quota: quota.into(),
            quota_unit: unit.into(),
            all: false,
            cursor: None,
        }
    }

    #[test]
    fn the_form_makes_the_api_request() {
        let req = CreateForm { project: "prj_1".into(), ..form("org", "10", "GiB") }.request().unwrap();
        assert_eq!(req.name, "scratch");
        assert_eq!(req.kind, WorkspaceKind::Org);
        assert_eq!(req.project_id.as_deref(), Some("prj_1"));
        assert_eq!(req.quota_bytes, Some(10 << 30));
        let plain = form("personal", " ", "GiB").request().unwrap();
        assert_eq!((plain.kind, plain.project_id, plain.quota_bytes), (WorkspaceKind::Personal, None, None));
        assert!(form("shared", "", "GiB").request().unwrap_err().message().contains("org or personal"));
    }

    #[test]
    fn quotas_are_numbers_of_a_binary_unit() {
        assert_eq!(quota_bytes("1.5", "MiB").unwrap(), Some(3 << 19));
        assert_eq!(quota_bytes("2", "TiB").unwrap(), Some(2 << 40));
        // Zero and less are the API's to refuse.
        assert_eq!(quota_bytes("0", "GiB").unwrap(), Some(0));
        assert_eq!(quota_bytes("-1", "MiB").unwrap(), Some(-(1 << 20)));
        for bad in ["ten", "1e3", "inf", "NaN", "1,5", "0x10"] {
            let e = quota_bytes(bad, "GiB").unwrap_err();
            assert_eq!(e.message(), "the quota must be a number of GiB, like 10 or 1.5", "{bad}");
        }
        assert!(quota_bytes("1", "GB").unwrap_err().message().contains("MiB, GiB or TiB"));
        assert!(quota_bytes("99999999", "TiB").unwrap_err().message().contains("larger than any store"));
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(size_label(0), "0 B");
        assert_eq!(size_label(1023), "1023 B");
        assert_eq!(size_label(1024), "1 KiB");
        assert_eq!(size_label(1536), "1.5 KiB");
        assert_eq!(size_label(10 << 30), "10 GiB");
        assert_eq!(size_label((1 << 20) - 1), "1 MiB");
        assert_eq!(size_label(1100), "1.1 KiB");
        assert_eq!(size_label(3 << 39), "1.5 TiB");
        assert_eq!(size_label(u64::MAX), "16384 PiB");
    }
}
