//! Resource identifiers: a short type prefix plus a lowercase ULID
//! (`key_01jf3x…`). ULIDs are time-ordered, so ordering by id is ordering by
//! creation time, which gives stable cursor pagination for free.

/// The prefix of every identifier kind on the wire. Never change one of these:
/// clients store ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// `org_…`
    Org,
    /// `usr_…`
    User,
    /// `prj_…`
    Project,
    /// `key_…`
    Key,
    /// `ses_…`
    Session,
    /// `evt_…`
    Event,
    /// `inv_…`
    Invitation,
    /// `prd_…` (Runtype profile)
    Product,
    /// `srf_…` (Runtype profile)
    Surface,
    /// `sec_…`
    Secret,
    /// `ssh_…`
    SshKey,
}

impl IdKind {
    /// The textual prefix, without the underscore.
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Org => "org",
            Self::User => "usr",
            Self::Project => "prj",
            Self::Key => "key",
            Self::Session => "ses",
            Self::Event => "evt",
            Self::Invitation => "inv",
            Self::Product => "prd",
            Self::Surface => "srf",
            Self::Secret => "sec",
            Self::SshKey => "ssh",
        }
    }
}

/// Length of the ULID part of an id.
const ULID_LEN: usize = 26;

/// Mints a new identifier of the given kind. Ids minted by this process are
/// strictly increasing, also within one millisecond (monotonic ULIDs), so
/// ordering by id is ordering by creation.
pub fn new_id(kind: IdKind) -> String {
    static GENERATOR: std::sync::Mutex<ulid::Generator> = std::sync::Mutex::new(ulid::Generator::new());
    let next = GENERATOR.lock().unwrap_or_else(std::sync::PoisonError::into_inner).generate();
    // Overflow needs 2^80 ids in one millisecond; fall back to a random one.
    let ulid = next.unwrap_or_else(|_| ulid::Ulid::new()).to_string().to_ascii_lowercase();
    format!("{}_{ulid}", kind.prefix())
}

/// Whether `id` is syntactically an identifier of `kind`. Used to answer 404
/// for garbage path parameters without a storage round trip.
pub fn is_valid(kind: IdKind, id: &str) -> bool {
    id.strip_prefix(kind.prefix())
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|u| u.len() == ULID_LEN && u.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A URL-safe slug for an organization name: lowercase ASCII letters and
/// digits joined by `-`, plus a random suffix so that two organizations of
/// the same name do not collide (`Acme Corp` → `acme-corp-7k2x9q`).
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let suffix = &new_id(IdKind::Org)[20..];
    if slug.is_empty() { format!("org-{suffix}") } else { format!("{slug}-{suffix}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_validate() {
        let id = new_id(IdKind::Key);
        assert!(id.starts_with("key_"), "{id}");
        assert!(is_valid(IdKind::Key, &id));
        assert!(!is_valid(IdKind::Project, &id));
        assert!(!is_valid(IdKind::Key, "key_short"));
        assert!(!is_valid(IdKind::Key, "key_../../etc/passwd_____________"));
    }

    #[test]
    fn ids_are_strictly_increasing_within_a_millisecond() {
        let ids: Vec<String> = (0..1000).map(|_| new_id(IdKind::Event)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = new_id(IdKind::Org);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_id(IdKind::Org);
        assert!(a < b);
    }
}
