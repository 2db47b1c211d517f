//! What the SQLite and PostgreSQL adapters share: the column lists their
//! queries select (macros, so the SQL stays `&'static str`) and the readers
//! that turn a row into a record, written once and generated for each
//! driver's row type by [`row_readers!`]. The SQL is the same on both
//! databases wherever the dialects agree (`$n` placeholders, epoch
//! milliseconds, text ids), so an adapter holds only what differs.

/// Every key query selects the key with its owner's details and current
/// role in the key's organization.
macro_rules! select_keys {
    () => {
        "SELECT k.id, k.org_id, k.project_id, k.name, k.key_hash, k.key_prefix, k.key_hint, \
    k.environment, k.kind, k.scopes, k.owner_user_id, k.created_by_user_id, k.created_by_key_id, \
    k.rate_limit_per_minute, k.rate_limit_per_day, k.expires_at, k.created_at, k.updated_at, \
    k.last_used_at, k.revoked_at, k.rotated_from, k.rotated_to, k.remaining, k.refill_amount, k.refill_interval, k.surface_id, \
    u.email AS owner_email, u.display_name AS owner_display_name, m.role AS owner_role \
    FROM api_keys k \
    LEFT JOIN users u ON u.id = k.owner_user_id \
    LEFT JOIN memberships m ON m.org_id = k.org_id AND m.user_id = k.owner_user_id "
    };
}

macro_rules! session_columns {
    () => {
        "SELECT id, user_id, token_hash, current_org_id, ip, user_agent, created_at, expires_at, last_used_at, \
         revoked_at FROM sessions "
    };
}

macro_rules! invitation_columns {
    () => {
        "SELECT id, org_id, email, role, token_hash, invited_by, created_at, expires_at, accepted_at, revoked_at \
         FROM invitations "
    };
}

macro_rules! org_columns {
    () => {
        "o.id, o.name, o.slug, o.members_see_all_keys, o.created_at"
    };
}

macro_rules! user_columns {
    () => {
        "u.id AS user_id, u.email, u.display_name, u.created_at AS user_created_at"
    };
}

/// Members of the organization `$1`, with the person; callers append
/// `AND …` conditions.
macro_rules! select_members {
    () => {
        concat!(
            "SELECT ",
            user_columns!(),
            ", m.role, m.created_at AS joined_at FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 "
        )
    };
}

macro_rules! project_columns {
    () => {
        "id, org_id, name, description, created_at, updated_at"
    };
}

macro_rules! data_key_columns {
    () => {
        "org_id, master_key_id, wrapped, created_at, updated_at"
    };
}

/// Secrets with their sealed value.
macro_rules! secret_columns {
    () => {
        "id, org_id, owner_user_id, name, category, ciphertext, version, created_at, updated_at"
    };
}

/// Secrets without the value (lists): `ciphertext` is read as empty.
macro_rules! secret_meta_columns {
    () => {
        "id, org_id, owner_user_id, name, category, NULL AS ciphertext, version, created_at, updated_at"
    };
}

macro_rules! ssh_key_columns {
    () => {
        "id, org_id, owner_user_id, name, algorithm, public_key, comment, fingerprint, bits, is_default, created_at"
    };
}

/// The row readers for one driver's row type (`sqlx::sqlite::SqliteRow`,
/// `sqlx::postgres::PgRow`); invoked once in each adapter's `rows` module.
macro_rules! row_readers {
    ($row:ty) => {
        use sqlx::Row as _;

        pub(crate) fn record(r: &$row) -> $crate::StoreResult<$crate::ApiKeyRecord> {
            let corrupt = |what: &str| $crate::StoreError::Corrupt(format!("api_keys.{what}"));
            let hash: Vec<u8> = r.get("key_hash");
            let key_prefix: String = r.get("key_prefix");
            let scopes: String = r.get("scopes");
            let env: String = r.get("environment");
            let kind: String = r.get("kind");
            let role: Option<String> = r.get("owner_role");
            let refill_amount: Option<i64> = r.get("refill_amount");
            let refill_interval: Option<String> = r.get("refill_interval");
            let refill = match (refill_amount, refill_interval) {
                (Some(amount), Some(i)) => Some($crate::Refill {
                    amount,
                    interval: $crate::RefillInterval::parse(&i).ok_or_else(|| corrupt("refill_interval"))?,
                }),
                _ => None,
            };
            Ok($crate::ApiKeyRecord {
                id: r.get("id"),
                org_id: r.get("org_id"),
                project_id: r.get("project_id"),
                name: r.get("name"),
                hash: ::latchkey_core::KeyHash::from_bytes(&hash).ok_or_else(|| corrupt("key_hash"))?,
                key_prefix: ::latchkey_core::DisplayPrefix::parse(&key_prefix).map_err(|_| corrupt("key_prefix"))?,
                key_hint: r.get("key_hint"),
                environment: ::latchkey_core::Environment::parse(&env).ok_or_else(|| corrupt("environment"))?,
                kind: match kind.as_str() {
                    "standard" => $crate::KeyKind::Standard,
                    "restricted" => $crate::KeyKind::Restricted,
                    _ => return Err(corrupt("kind")),
                },
                scopes: ::latchkey_core::ScopeSet::from_stored(
                    &serde_json::from_str::<Vec<String>>(&scopes).map_err(|_| corrupt("scopes"))?,
                ),
                owner_user_id: r.get("owner_user_id"),
                owner_email: r.get("owner_email"),
                owner_display_name: r.get("owner_display_name"),
                owner_role: role.map(|r| r.parse()).transpose().map_err(|_| corrupt("owner_role"))?,
                created_by_user_id: r.get("created_by_user_id"),
                created_by_key_id: r.get("created_by_key_id"),
                rate_limit_per_minute: r.get("rate_limit_per_minute"),
                rate_limit_per_day: r.get("rate_limit_per_day"),
                expires_at: r.get("expires_at"),
                remaining: r.get("remaining"),
                refill,
                created_at: r.get("created_at"),
                updated_at: r.get("updated_at"),
                last_used_at: r.get("last_used_at"),
                revoked_at: r.get("revoked_at"),
                rotated_from: r.get("rotated_from"),
                rotated_to: r.get("rotated_to"),
                surface_id: r.get("surface_id"),
            })
        }

        pub(crate) fn hash(r: &$row, table: &str) -> $crate::StoreResult<::latchkey_core::KeyHash> {
            let raw: Vec<u8> = r.get("token_hash");
            ::latchkey_core::KeyHash::from_bytes(&raw)
                .ok_or_else(|| $crate::StoreError::Corrupt(format!("{table}.token_hash")))
        }

        pub(crate) fn session(r: &$row) -> $crate::StoreResult<$crate::Session> {
            Ok($crate::Session {
                id: r.get("id"),
                user_id: r.get("user_id"),
                token_hash: hash(r, "sessions")?,
                current_org_id: r.get("current_org_id"),
                ip: r.get("ip"),
                user_agent: r.get("user_agent"),
                created_at: r.get("created_at"),
                expires_at: r.get("expires_at"),
                last_used_at: r.get("last_used_at"),
                revoked_at: r.get("revoked_at"),
            })
        }

        pub(crate) fn invitation(r: &$row) -> $crate::StoreResult<$crate::Invitation> {
            let role: String = r.get("role");
            Ok($crate::Invitation {
                id: r.get("id"),
                org_id: r.get("org_id"),
                email: r.get("email"),
                role: role.parse().map_err(|_| $crate::StoreError::Corrupt("invitations.role".to_owned()))?,
                token_hash: hash(r, "invitations")?,
                invited_by: r.get("invited_by"),
                created_at: r.get("created_at"),
                expires_at: r.get("expires_at"),
                accepted_at: r.get("accepted_at"),
                revoked_at: r.get("revoked_at"),
            })
        }

        pub(crate) fn event(r: &$row) -> $crate::AuditEvent {
            $crate::AuditEvent {
                id: r.get("id"),
                org_id: r.get("org_id"),
                at: r.get("at"),
                actor_type: r.get("actor_type"),
                actor_id: r.get("actor_id"),
                action: r.get("action"),
                target_type: r.get("target_type"),
                target_id: r.get("target_id"),
                ip: r.get("ip"),
                request_id: r.get("request_id"),
                details: r.get("details"),
            }
        }

        pub(crate) fn org(r: &$row) -> $crate::Org {
            $crate::Org {
                id: r.get("id"),
                name: r.get("name"),
                slug: r.get("slug"),
                members_see_all_keys: r.get("members_see_all_keys"),
                created_at: r.get("created_at"),
            }
        }

        pub(crate) fn user(r: &$row) -> $crate::User {
            $crate::User {
                id: r.get("user_id"),
                email: r.get("email"),
                display_name: r.get("display_name"),
                created_at: r.get("user_created_at"),
            }
        }

        pub(crate) fn role(r: &$row) -> $crate::StoreResult<::latchkey_core::Role> {
            let role: String = r.get("role");
            role.parse().map_err(|_| $crate::StoreError::Corrupt("memberships.role".to_owned()))
        }

        pub(crate) fn member(r: &$row) -> $crate::StoreResult<$crate::Member> {
            Ok($crate::Member { user: user(r), role: role(r)?, joined_at: r.get("joined_at") })
        }

        pub(crate) fn project(r: &$row) -> $crate::Project {
            $crate::Project {
                id: r.get("id"),
                org_id: r.get("org_id"),
                name: r.get("name"),
                description: r.get("description"),
                created_at: r.get("created_at"),
                updated_at: r.get("updated_at"),
            }
        }

        pub(crate) fn product(r: &$row) -> $crate::Product {
            $crate::Product {
                id: r.get("id"),
                org_id: r.get("org_id"),
                name: r.get("name"),
                created_at: r.get("created_at"),
            }
        }

        pub(crate) fn data_key(r: &$row) -> $crate::WrappedDataKey {
            $crate::WrappedDataKey {
                org_id: r.get("org_id"),
                master_key_id: r.get("master_key_id"),
                wrapped: r.get("wrapped"),
                created_at: r.get("created_at"),
                updated_at: r.get("updated_at"),
            }
        }

        pub(crate) fn secret(r: &$row) -> $crate::SecretRecord {
            let ciphertext: Option<Vec<u8>> = r.get("ciphertext");
            $crate::SecretRecord {
                id: r.get("id"),
                org_id: r.get("org_id"),
                owner_user_id: r.get("owner_user_id"),
                name: r.get("name"),
                category: r.get("category"),
                ciphertext: ciphertext.unwrap_or_default(),
                version: r.get("version"),
                created_at: r.get("created_at"),
                updated_at: r.get("updated_at"),
            }
        }

        pub(crate) fn ssh_key(r: &$row) -> $crate::SshKeyRecord {
            $crate::SshKeyRecord {
                id: r.get("id"),
                org_id: r.get("org_id"),
                owner_user_id: r.get("owner_user_id"),
                name: r.get("name"),
                algorithm: r.get("algorithm"),
                public_key: r.get("public_key"),
                comment: r.get("comment"),
                fingerprint: r.get("fingerprint"),
                bits: r.get("bits"),
                is_default: r.get("is_default"),
                created_at: r.get("created_at"),
            }
        }

        pub(crate) fn surface(r: &$row) -> $crate::Surface {
            $crate::Surface {
                id: r.get("id"),
                org_id: r.get("org_id"),
                product_id: r.get("product_id"),
                name: r.get("name"),
                created_at: r.get("created_at"),
            }
        }
    };
}
