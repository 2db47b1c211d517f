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
    /// `idn_…`
    Identity,
    /// `ocr_…` (an OAuth connect request in progress)
    OAuthConnectRequest,
    /// `ocn_…` (an OAuth connection to a third-party provider)
    OAuthConnection,
    /// `wsp_…` (a workspace: a storage space of an organization or a person)
    Workspace,
    /// `whk_…` (a webhook endpoint)
    Webhook,
    /// `whd_…` (a delivery of one event to one webhook endpoint)
    WebhookDelivery,
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
            Self::Identity => "idn",
            Self::OAuthConnectRequest => "ocr",
            Self::OAuthConnection => "ocn",
            Self::Workspace => "wsp",
            Self::Webhook => "whk",
            Self::WebhookDelivery => "whd",
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

/// Defines owned id newtypes around `String`, one per [`IdKind`]. They are
/// labels for the compiler (an organization id cannot be passed where a key
/// id is expected), not parsers: any text converts into one, so an id of
/// another kind in a path or a row stays a lookup that finds nothing (404),
/// never a validation error. On the wire (serde) an id is its text.
macro_rules! typed_ids {
    ($($(#[$doc:meta])* $name:ident => $kind:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Mints a new id of this kind ([`new_id`]).
            #[must_use]
            pub fn new() -> Self {
                Self(new_id(IdKind::$kind))
            }

            /// The id as text.
            #[inline]
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id's text, owned.
            #[inline]
            #[must_use]
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl Default for $name {
            /// A new id ([`Self::new`]).
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            #[inline]
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            #[inline]
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            #[inline]
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            #[inline]
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            #[inline]
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<$name> for String {
            #[inline]
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                **self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    )*};
}

typed_ids! {
    /// An organization's id (`org_…`).
    OrgId => Org;
    /// A user's id (`usr_…`).
    UserId => User;
    /// A project's id (`prj_…`).
    ProjectId => Project;
    /// An API key's id (`key_…`).
    KeyId => Key;
    /// A login session's id (`ses_…`).
    SessionId => Session;
    /// An audit event's id (`evt_…`).
    EventId => Event;
    /// An invitation's id (`inv_…`).
    InvitationId => Invitation;
    /// A Runtype product's id (`prd_…`).
    ProductId => Product;
    /// A Runtype surface's id (`srf_…`).
    SurfaceId => Surface;
    /// A secret's id (`sec_…`).
    SecretId => Secret;
    /// An SSH public key's id (`ssh_…`).
    SshKeyId => SshKey;
    /// A person's linked identity at an identity provider (`idn_…`).
    IdentityId => Identity;
    /// An OAuth connect request in progress (`ocr_…`).
    OAuthConnectRequestId => OAuthConnectRequest;
    /// An OAuth connection to a third-party provider (`ocn_…`).
    OAuthConnectionId => OAuthConnection;
    /// A workspace's id (`wsp_…`).
    WorkspaceId => Workspace;
    /// A webhook endpoint's id (`whk_…`).
    WebhookId => Webhook;
    /// A webhook delivery's id (`whd_…`: minted by the database when an
    /// event is fanned out, time-ordered as the others are).
    WebhookDeliveryId => WebhookDelivery;
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

    #[test]
    fn typed_ids_mint_their_kind_and_take_any_text() {
        let key = KeyId::new();
        assert!(is_valid(IdKind::Key, key.as_str()), "{key}");
        assert!(OrgId::new().starts_with("org_"));
        let workspace = WorkspaceId::new();
        assert!(workspace.starts_with("wsp_") && is_valid(IdKind::Workspace, &workspace), "{workspace}");
        // A label, not a parser: another kind's id (or garbage) converts, so
        // a lookup with it finds nothing rather than failing to parse.
        let other = KeyId::from("org_01jf3x0000000000000000000a");
        assert_eq!(other, "org_01jf3x0000000000000000000a");
        assert_eq!(other.to_string(), "org_01jf3x0000000000000000000a");
        assert_eq!(String::from(other.clone()), other.as_str());
    }

    #[test]
    fn typed_ids_are_their_text_on_the_wire() {
        let id = UserId::from("usr_abc");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"usr_abc\"");
        let back: UserId = serde_json::from_str("\"prj_anything\"").unwrap();
        assert_eq!(back, "prj_anything");
    }
}
