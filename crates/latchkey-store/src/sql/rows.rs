//! The column lists the queries select (macros, so that `concat!` keeps
//! the SQL `&'static str`) and the readers that turn a row of either
//! driver into a record ([`ReadRow`]).

/// Every key query selects the key with its owner's details and current
/// role in the key's organization.
macro_rules! select_keys {
    () => {
        "SELECT k.id, k.org_id, k.project_id, k.name, k.key_hash, k.key_prefix, k.key_hint, \
    k.environment, k.kind, k.scopes, k.owner_user_id, k.created_by_user_id, k.created_by_key_id, \
    k.rate_limit_per_minute, k.rate_limit_per_day, k.expires_at, k.created_at, k.updated_at, \
    k.last_used_at, k.revoked_at, k.leaked_at, k.rotated_from, k.rotated_to, k.remaining, k.refill_amount, k.refill_interval, k.surface_id, \
    k.allowed_cidrs, k.imported, k.external_id, k.unused_quiet_ms, k.unused_since, k.unused_max_until, k.unused_ended_at, \
    u.email AS owner_email, u.display_name AS owner_display_name, m.role AS owner_role, \
    kp.allowed_cidrs AS policy_cidrs \
    FROM api_keys k \
    LEFT JOIN users u ON u.id = k.owner_user_id \
    LEFT JOIN memberships m ON m.org_id = k.org_id AND m.user_id = k.owner_user_id \
    LEFT JOIN org_key_policies kp ON kp.org_id = k.org_id "
    };
}

/// `INSERT INTO api_keys (…columns…) `: what a new key's row is written
/// with (`insert_key`, and the dialects' batch statement, which give
/// `updated_at` and `refilled_at` the creation time).
macro_rules! insert_api_keys {
    () => {
        "INSERT INTO api_keys (id, org_id, project_id, name, key_hash, key_prefix, key_hint, environment, kind, \
         scopes, owner_user_id, created_by_user_id, created_by_key_id, rate_limit_per_minute, rate_limit_per_day, \
         expires_at, created_at, updated_at, rotated_from, remaining, refill_amount, refill_interval, refilled_at, \
         surface_id, allowed_cidrs, imported, external_id) "
    };
}

/// `INSERT INTO audit_events (…columns…) `: what an audit event is written
/// with (one, or the dialects' batch statement).
macro_rules! insert_audit_events {
    () => {
        "INSERT INTO audit_events (id, org_id, at, actor_type, actor_id, action, target_type, target_id, ip, \
         request_id, details) "
    };
}

macro_rules! session_columns {
    () => {
        "SELECT id, user_id, token_hash, current_org_id, ip, user_agent, created_at, expires_at, last_used_at, \
         revoked_at FROM sessions "
    };
}

macro_rules! identity_columns {
    () => {
        "SELECT id, user_id, provider, issuer, subject, email, created_at, last_used_at FROM user_identities "
    };
}

macro_rules! auth_request_columns {
    () => {
        "hash, kind, user_code_hash, payload, user_id, org_id, decision, polled_at, prev_polled_at, created_at, \
         expires_at"
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
        "o.id, o.name, o.slug, o.members_see_all_keys, o.leak_action, o.created_at"
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

macro_rules! oauth_client_columns {
    () => {
        "org_id, provider, client_id, client_secret_sealed, updated_at"
    };
}

macro_rules! connect_request_columns {
    () => {
        "id, org_id, user_id, provider, scopes, shared, state_hash, pkce_verifier, status, error, connection_id, \
         created_at, expires_at"
    };
}

/// OAuth connections with their sealed tokens.
macro_rules! connection_columns {
    () => {
        "id, org_id, owner_user_id, provider, account_id, account_label, requested_scopes, granted_scopes, \
         access_token_sealed, refresh_token_sealed, token_type, expires_at, status, is_default, version, \
         refresh_lease_until, refresh_lease_holder, cooldown_until, tokens_at, created_at, updated_at"
    };
}

/// OAuth connections without their tokens (lists): read as empty.
macro_rules! connection_meta_columns {
    () => {
        "id, org_id, owner_user_id, provider, account_id, account_label, requested_scopes, granted_scopes, \
         NULL AS access_token_sealed, NULL AS refresh_token_sealed, token_type, expires_at, status, is_default, \
         version, refresh_lease_until, refresh_lease_holder, cooldown_until, tokens_at, created_at, updated_at"
    };
}

/// Workspaces.
macro_rules! workspace_columns {
    () => {
        "id, org_id, kind, owner_user_id, project_id, name, storage_prefix, quota_bytes, created_by_user_id, \
         created_by_key_id, created_at, updated_at"
    };
}

use latchkey_core::ip::IpRules;
use latchkey_core::{DisplayPrefix, Environment, KeyHash, Role, ScopeSet};

use super::ReadRow;
use crate::{
    ApiKeyRecord, AuditEvent, AuthRequest, AuthRequestKind, ConnectStatus, ConnectionStatus, Decision, Identity,
    Invitation, KeyKind, LeakAction, Member, OAuthClient, OAuthConnectRequest, OAuthConnection, Org, Product, Project,
    Refill, RefillInterval, SecretRecord, Session, SshKeyRecord, StoreError, StoreResult, Surface, UntilUnused, User,
    Workspace, WorkspaceKind, WrappedDataKey,
};

/// A key with its owner's details ([`select_keys!`]).
pub(crate) fn record(r: &impl ReadRow) -> StoreResult<ApiKeyRecord> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("api_keys.{what}"));
    let scopes = r.text("scopes")?;
    let env = r.text("environment")?;
    let role = r.opt_text("owner_role")?;
    let refill = match (r.opt_i64("refill_amount")?, r.opt_text("refill_interval")?) {
        (Some(amount), Some(i)) => {
            Some(Refill { amount, interval: RefillInterval::parse(&i).ok_or_else(|| corrupt("refill_interval"))? })
        }
        _ => None,
    };
    Ok(ApiKeyRecord {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        project_id: r.opt_id("project_id")?,
        name: r.text("name")?,
        hash: key_hash(r, "key_hash", "api_keys")?,
        key_prefix: if r.bool("imported")? {
            DisplayPrefix::imported(&r.text("key_prefix")?)
        } else {
            DisplayPrefix::parse(&r.text("key_prefix")?)
        }
        .map_err(|_| corrupt("key_prefix"))?,
        key_hint: r.text("key_hint")?,
        environment: Environment::parse(&env).ok_or_else(|| corrupt("environment"))?,
        kind: match r.text("kind")?.as_str() {
            "standard" => KeyKind::Standard,
            "restricted" => KeyKind::Restricted,
            _ => return Err(corrupt("kind")),
        },
        scopes: ScopeSet::from_stored(&serde_json::from_str::<Vec<String>>(&scopes).map_err(|_| corrupt("scopes"))?),
        owner_user_id: r.opt_id("owner_user_id")?,
        owner_email: r.opt_text("owner_email")?,
        owner_display_name: r.opt_text("owner_display_name")?,
        owner_role: role.map(|r| r.parse()).transpose().map_err(|_| corrupt("owner_role"))?,
        created_by_user_id: r.opt_id("created_by_user_id")?,
        created_by_key_id: r.opt_id("created_by_key_id")?,
        rate_limit_per_minute: r.opt_i64("rate_limit_per_minute")?,
        rate_limit_per_day: r.opt_i64("rate_limit_per_day")?,
        expires_at: r.opt_i64("expires_at")?,
        remaining: r.opt_i64("remaining")?,
        refill,
        created_at: r.i64("created_at")?,
        updated_at: r.i64("updated_at")?,
        last_used_at: r.opt_i64("last_used_at")?,
        revoked_at: r.opt_i64("revoked_at")?,
        leaked_at: r.opt_i64("leaked_at")?,
        rotated_from: r.opt_id("rotated_from")?,
        rotated_to: r.opt_id("rotated_to")?,
        surface_id: r.opt_id("surface_id")?,
        allowed_cidrs: cidrs(r, "allowed_cidrs", "api_keys")?,
        policy_cidrs: cidrs(r, "policy_cidrs", "org_key_policies")?,
        external_id: r.opt_text("external_id")?,
        until_unused: until_unused(r)?,
    })
}

/// The wait of a key rotated until unused, if it is one: its three times
/// are set whenever its quiet time is.
fn until_unused(r: &impl ReadRow) -> StoreResult<Option<UntilUnused>> {
    let Some(quiet_ms) = r.opt_i64("unused_quiet_ms")? else { return Ok(None) };
    let time =
        |column: &str| r.opt_i64(column)?.ok_or_else(|| StoreError::Corrupt(format!("api_keys.{column} is missing")));
    Ok(Some(UntilUnused {
        quiet_ms,
        since: time("unused_since")?,
        max_until: time("unused_max_until")?,
        ended_at: r.opt_i64("unused_ended_at")?,
    }))
}

/// A list of networks as stored: a JSON array of CIDR texts, or NULL.
pub(crate) fn cidrs(r: &impl ReadRow, column: &str, table: &str) -> StoreResult<Option<IpRules>> {
    let Some(text) = r.opt_text(column)? else { return Ok(None) };
    let corrupt = || StoreError::Corrupt(format!("{table}.{column}"));
    let list: Vec<String> = serde_json::from_str(&text).map_err(|_| corrupt())?;
    IpRules::parse(&list).map(Some).map_err(|_| corrupt())
}

/// A list of networks as stored ([`cidrs`]).
pub(crate) fn cidrs_text(rules: Option<&IpRules>) -> Option<String> {
    rules.map(|r| serde_json::to_string(&r.to_strings()).unwrap_or_else(|_| "[]".to_owned()))
}

/// A stored SHA-256 (`table.column`).
pub(crate) fn key_hash(r: &impl ReadRow, column: &str, table: &str) -> StoreResult<KeyHash> {
    KeyHash::from_bytes(&r.bytes(column)?).ok_or_else(|| StoreError::Corrupt(format!("{table}.{column}")))
}

/// A role as stored (`table.role`).
pub(crate) fn parse_role(role: &str, table: &str) -> StoreResult<Role> {
    role.parse().map_err(|_| StoreError::Corrupt(format!("{table}.role")))
}

/// A session ([`session_columns!`]).
pub(crate) fn session(r: &impl ReadRow) -> StoreResult<Session> {
    Ok(Session {
        id: r.id("id")?,
        user_id: r.id("user_id")?,
        token_hash: key_hash(r, "token_hash", "sessions")?,
        current_org_id: r.opt_id("current_org_id")?,
        ip: r.opt_text("ip")?,
        user_agent: r.opt_text("user_agent")?,
        created_at: r.i64("created_at")?,
        expires_at: r.i64("expires_at")?,
        last_used_at: r.opt_i64("last_used_at")?,
        revoked_at: r.opt_i64("revoked_at")?,
    })
}

/// An invitation ([`invitation_columns!`]).
pub(crate) fn invitation(r: &impl ReadRow) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        email: r.text("email")?,
        role: parse_role(&r.text("role")?, "invitations")?,
        token_hash: key_hash(r, "token_hash", "invitations")?,
        invited_by: r.opt_id("invited_by")?,
        created_at: r.i64("created_at")?,
        expires_at: r.i64("expires_at")?,
        accepted_at: r.opt_i64("accepted_at")?,
        revoked_at: r.opt_i64("revoked_at")?,
    })
}

/// An audit event (every column of `audit_events`).
pub(crate) fn event(r: &impl ReadRow) -> StoreResult<AuditEvent> {
    Ok(AuditEvent {
        id: r.id("id")?,
        org_id: r.opt_id("org_id")?,
        at: r.i64("at")?,
        actor_type: r.text("actor_type")?,
        actor_id: r.opt_text("actor_id")?,
        action: r.text("action")?,
        target_type: r.opt_text("target_type")?,
        target_id: r.opt_text("target_id")?,
        ip: r.opt_text("ip")?,
        request_id: r.opt_text("request_id")?,
        details: r.text("details")?,
    })
}

/// An organization ([`org_columns!`]).
pub(crate) fn org(r: &impl ReadRow) -> StoreResult<Org> {
    Ok(Org {
        id: r.id("id")?,
        name: r.text("name")?,
        slug: r.text("slug")?,
        members_see_all_keys: r.bool("members_see_all_keys")?,
        leak_action: LeakAction::parse(&r.text("leak_action")?)
            .ok_or_else(|| StoreError::Corrupt("orgs.leak_action".to_owned()))?,
        created_at: r.i64("created_at")?,
    })
}

/// An identity ([`identity_columns!`]).
pub(crate) fn identity(r: &impl ReadRow) -> StoreResult<Identity> {
    Ok(Identity {
        id: r.id("id")?,
        user_id: r.id("user_id")?,
        provider: r.text("provider")?,
        issuer: r.text("issuer")?,
        subject: r.text("subject")?,
        email: r.opt_text("email")?,
        created_at: r.i64("created_at")?,
        last_used_at: r.opt_i64("last_used_at")?,
    })
}

/// A sign-in in progress ([`auth_request_columns!`]).
pub(crate) fn auth_request(r: &impl ReadRow) -> StoreResult<AuthRequest> {
    let corrupt = |column: &str| StoreError::Corrupt(format!("auth_requests.{column}"));
    Ok(AuthRequest {
        hash: key_hash(r, "hash", "auth_requests")?,
        kind: AuthRequestKind::parse(&r.text("kind")?).ok_or_else(|| corrupt("kind"))?,
        user_code_hash: r
            .opt_bytes("user_code_hash")?
            .map(|b| KeyHash::from_bytes(&b).ok_or_else(|| corrupt("user_code_hash")))
            .transpose()?,
        payload: r.text("payload")?,
        user_id: r.opt_id("user_id")?,
        org_id: r.opt_id("org_id")?,
        decision: r
            .opt_text("decision")?
            .map(|d| Decision::parse(&d).ok_or_else(|| corrupt("decision")))
            .transpose()?,
        polled_at: r.opt_i64("polled_at")?,
        prev_polled_at: r.opt_i64("prev_polled_at")?,
        created_at: r.i64("created_at")?,
        expires_at: r.i64("expires_at")?,
    })
}

/// A user ([`user_columns!`]).
pub(crate) fn user(r: &impl ReadRow) -> StoreResult<User> {
    Ok(User {
        id: r.id("user_id")?,
        email: r.text("email")?,
        display_name: r.text("display_name")?,
        created_at: r.i64("user_created_at")?,
    })
}

/// A membership's role (`role`).
pub(crate) fn role(r: &impl ReadRow) -> StoreResult<Role> {
    parse_role(&r.text("role")?, "memberships")
}

/// A member ([`select_members!`]).
pub(crate) fn member(r: &impl ReadRow) -> StoreResult<Member> {
    Ok(Member { user: user(r)?, role: role(r)?, joined_at: r.i64("joined_at")? })
}

/// A project ([`project_columns!`]).
pub(crate) fn project(r: &impl ReadRow) -> StoreResult<Project> {
    Ok(Project {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        name: r.text("name")?,
        description: r.opt_text("description")?,
        created_at: r.i64("created_at")?,
        updated_at: r.i64("updated_at")?,
    })
}

/// A product.
pub(crate) fn product(r: &impl ReadRow) -> StoreResult<Product> {
    Ok(Product { id: r.id("id")?, org_id: r.id("org_id")?, name: r.text("name")?, created_at: r.i64("created_at")? })
}

/// A surface.
pub(crate) fn surface(r: &impl ReadRow) -> StoreResult<Surface> {
    Ok(Surface {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        product_id: r.id("product_id")?,
        name: r.text("name")?,
        created_at: r.i64("created_at")?,
    })
}

/// A wrapped data key ([`data_key_columns!`]).
pub(crate) fn data_key(r: &impl ReadRow) -> StoreResult<WrappedDataKey> {
    Ok(WrappedDataKey {
        org_id: r.id("org_id")?,
        master_key_id: r.text("master_key_id")?,
        wrapped: r.bytes("wrapped")?,
        created_at: r.i64("created_at")?,
        updated_at: r.i64("updated_at")?,
    })
}

/// A secret ([`secret_columns!`], or [`secret_meta_columns!`]: no value).
pub(crate) fn secret(r: &impl ReadRow) -> StoreResult<SecretRecord> {
    Ok(SecretRecord {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        owner_user_id: r.opt_id("owner_user_id")?,
        name: r.text("name")?,
        category: r.text("category")?,
        ciphertext: r.opt_bytes("ciphertext")?.unwrap_or_default(),
        version: r.i64("version")?,
        created_at: r.i64("created_at")?,
        updated_at: r.i64("updated_at")?,
    })
}

/// An SSH public key ([`ssh_key_columns!`]).
pub(crate) fn ssh_key(r: &impl ReadRow) -> StoreResult<SshKeyRecord> {
    Ok(SshKeyRecord {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        owner_user_id: r.opt_id("owner_user_id")?,
        name: r.text("name")?,
        algorithm: r.text("algorithm")?,
        public_key: r.text("public_key")?,
        comment: r.text("comment")?,
        fingerprint: r.text("fingerprint")?,
        bits: r.i64("bits")?,
        is_default: r.bool("is_default")?,
        created_at: r.i64("created_at")?,
    })
}

/// An organization's OAuth client credentials ([`oauth_client_columns!`]).
pub(crate) fn oauth_client(r: &impl ReadRow) -> StoreResult<OAuthClient> {
    Ok(OAuthClient {
        org_id: r.id("org_id")?,
        provider: r.text("provider")?,
        client_id: r.text("client_id")?,
        client_secret_sealed: r.opt_bytes("client_secret_sealed")?,
        updated_at: r.i64("updated_at")?,
    })
}

/// An OAuth connection in progress ([`connect_request_columns!`]).
pub(crate) fn connect_request(r: &impl ReadRow) -> StoreResult<OAuthConnectRequest> {
    Ok(OAuthConnectRequest {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        user_id: r.id("user_id")?,
        provider: r.text("provider")?,
        scopes: r.text("scopes")?,
        shared: r.bool("shared")?,
        state_hash: key_hash(r, "state_hash", "oauth_connect_requests")?,
        pkce_verifier: r.text("pkce_verifier")?,
        status: ConnectStatus::parse(&r.text("status")?)
            .ok_or_else(|| StoreError::Corrupt("oauth_connect_requests.status".to_owned()))?,
        error: r.opt_text("error")?,
        connection_id: r.opt_id("connection_id")?,
        created_at: r.i64("created_at")?,
        expires_at: r.i64("expires_at")?,
    })
}

/// An OAuth connection ([`connection_columns!`], or
/// [`connection_meta_columns!`]: no tokens).
pub(crate) fn connection(r: &impl ReadRow) -> StoreResult<OAuthConnection> {
    Ok(OAuthConnection {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        owner_user_id: r.opt_id("owner_user_id")?,
        provider: r.text("provider")?,
        account_id: r.text("account_id")?,
        account_label: r.text("account_label")?,
        requested_scopes: r.text("requested_scopes")?,
        granted_scopes: r.text("granted_scopes")?,
        access_token_sealed: r.opt_bytes("access_token_sealed")?.unwrap_or_default(),
        refresh_token_sealed: r.opt_bytes("refresh_token_sealed")?,
        token_type: r.text("token_type")?,
        expires_at: r.opt_i64("expires_at")?,
        status: ConnectionStatus::parse(&r.text("status")?)
            .ok_or_else(|| StoreError::Corrupt("oauth_connections.status".to_owned()))?,
        is_default: r.bool("is_default")?,
        version: r.i64("version")?,
        refresh_lease_until: r.opt_i64("refresh_lease_until")?,
        refresh_lease_holder: r.opt_text("refresh_lease_holder")?,
        cooldown_until: r.opt_i64("cooldown_until")?,
        tokens_at: r.i64("tokens_at")?,
        created_at: r.i64("created_at")?,
        updated_at: r.i64("updated_at")?,
    })
}

/// A workspace ([`workspace_columns!`]).
pub(crate) fn workspace(r: &impl ReadRow) -> StoreResult<Workspace> {
    Ok(Workspace {
        id: r.id("id")?,
        org_id: r.id("org_id")?,
        kind: WorkspaceKind::parse(&r.text("kind")?)
            .ok_or_else(|| StoreError::Corrupt("workspaces.kind".to_owned()))?,
        owner_user_id: r.opt_id("owner_user_id")?,
        project_id: r.opt_id("project_id")?,
        name: r.text("name")?,
        storage_prefix: r.text("storage_prefix")?,
        quota_bytes: r.opt_i64("quota_bytes")?,
        created_by_user_id: r.opt_id("created_by_user_id")?,
        created_by_key_id: r.opt_id("created_by_key_id")?,
        created_at: r.i64("created_at")?,
        updated_at: r.i64("updated_at")?,
    })
}
