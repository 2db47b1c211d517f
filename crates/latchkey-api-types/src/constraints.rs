//! What the server checks of a request's strings, stated in the document,
//! so that a client, or a generator of test requests, knows it before it
//! asks: the schemas request fields name with `#[schema(value_type = …)]`.
//! They describe the wire only; the fields stay `String`. Each states the
//! rule of one check of the server or `latchkey-core`, named on the type;
//! what a schema cannot say (a duration's total, an expiry in the future)
//! stays in the descriptions.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// A string schema with `description`.
fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).description(Some(description))
}

/// Implements the schema of a string type, a component named after it.
macro_rules! string_schema {
    ($ty:ident, $schema:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
        }
    };
}

/// Characters a name may not hold: C0 and C1 controls, DEL, the
/// bidirectional controls and the line and paragraph separators.
const CONTROLS: &str = r"\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\u2028\u2029";

/// A name people give things (`latchkey_core::text::check_name`): 1–255
/// characters once trimmed, none of them a control character.
pub struct Name;

string_schema!(
    Name,
    string("A name: 1–255 characters once trimmed, not all whitespace, no control characters.")
        .min_length(Some(1))
        .max_length(Some(255))
        .pattern(Some(format!("^[^{CONTROLS}]*[^\\s{CONTROLS}][^{CONTROLS}]*$")))
);

/// A duration (`latchkey_core::parse_duration`): `12h`, `30d`, `1y`, `1d12h`.
pub struct Duration;

string_schema!(
    Duration,
    string("A duration: numbers with a unit s, m, h, d, w or y (`12h`, `30d`, `1y`, `1d12h`), in all more than zero and at most 100 years.")
        .pattern(Some("^([0-9]{1,9}[smhdwy])+$"))
);

/// A rotation's grace period: a [`Duration`] or `until-unused`
/// (`latchkey_server::rotation::grace_end`).
pub struct GracePeriod;

string_schema!(
    GracePeriod,
    string("A duration (`24h`, at most `30d`; see Duration), or `until-unused`: until the old key has gone unused for `quietFor`, at most `maxGrace`.")
        .pattern(Some("^(([0-9]{1,9}[smhdwy])+|until-unused)$"))
);

/// An organization's slug (`check_slug` of the server's organization
/// routes).
pub struct Slug;

string_schema!(
    Slug,
    string("A URL-safe name: 2–64 of a-z, 0-9 and `-`, not starting or ending with `-`.")
        .pattern(Some("^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$"))
);

/// A secret's name (`latchkey_core::secret::is_valid_name`), as the
/// `/v1/secrets/{name}` paths take it.
pub struct SecretName;

string_schema!(
    SecretName,
    string("A secret's name: 1–128 of A-Z, 0-9 and `_` (`ANTHROPIC_API_KEY`).").pattern(Some("^[A-Z0-9_]{1,128}$"))
);

/// A role in an organization.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// Organization settings, every member's resources.
    Admin,
    /// Own resources, and shared ones the organization allows.
    Member,
}

/// Where a key can be transferred: only to its organization.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransferTarget {
    /// The organization.
    Org,
}
