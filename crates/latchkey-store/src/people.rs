//! [`PeopleStore`] and [`SignInStore`], in a file of their own (`lib.rs`
//! holds the smaller traits).

use async_trait::async_trait;
use latchkey_core::id::{IdentityId, InvitationId, OrgId, SessionId, UserId};
use latchkey_core::time_fmt::Millis;
use latchkey_core::{KeyHash, Role};

use crate::{
    AcceptError, AuditEvent, AuthRequest, AuthRequestKind, Decision, Identity, Invitation, NewOrg, NewUser, Org, Page,
    Session, StoreResult, User,
};

/// People: accounts, passwords, sessions, invitations. Changes that are
/// audited take their [`AuditEvent`]s into their transaction, as in
/// [`KeyStore`].
#[async_trait]
pub trait PeopleStore: Send + Sync {
    /// Creates a user with a password hash, an organization they administer
    /// and their first session, and appends `events`, atomically.
    /// [`Unique::UserEmail`] or [`Unique::OrgSlug`] if the email or the slug
    /// is taken.
    async fn sign_up(
        &self,
        user: &NewUser,
        password_hash: &str,
        org: &NewOrg,
        session: &Session,
        events: &[AuditEvent],
    ) -> StoreResult<()>;

    /// A user and their password hash by (lowercased) email.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<(User, Option<String>)>>;

    /// Sets a user's password hash; `false` if there is no such user.
    async fn set_password(&self, user_id: &UserId, password_hash: &str) -> StoreResult<bool>;

    /// Inserts a session (a login).
    async fn insert_session(&self, session: &Session, event: &AuditEvent) -> StoreResult<()>;

    /// A session by token hash (whatever its state).
    async fn session_by_hash(&self, hash: &KeyHash) -> StoreResult<Option<Session>>;

    /// Notes a request made with a session (callers throttle this).
    async fn touch_session(&self, id: &SessionId, at: Millis) -> StoreResult<()>;

    /// A user's sessions that are neither revoked nor expired at `now`,
    /// newest first.
    async fn list_sessions(&self, user_id: &UserId, now: Millis, page: &Page) -> StoreResult<Vec<Session>>;

    /// Revokes one of `user_id`'s sessions; `false` if there is no such
    /// active session of theirs.
    async fn revoke_session(
        &self,
        user_id: &UserId,
        id: &SessionId,
        at: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool>;

    /// Sets the organization a session acts in by default.
    async fn set_session_org(&self, id: &SessionId, org_id: &OrgId) -> StoreResult<()>;

    /// Inserts an invitation (with its audit event, in one transaction).
    async fn insert_invitation(&self, invitation: &Invitation, event: &AuditEvent) -> StoreResult<()>;

    /// Pending (not accepted, revoked or expired) invitations of `org_id`.
    async fn list_invitations(&self, org_id: &OrgId, now: Millis, page: &Page) -> StoreResult<Vec<Invitation>>;

    /// Revokes a pending invitation of `org_id` (with its audit event, in one
    /// transaction); `false` if none.
    async fn revoke_invitation(
        &self,
        org_id: &OrgId,
        id: &InvitationId,
        at: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool>;

    /// The pending (neither accepted nor revoked, and not expired at `now`)
    /// invitation with this token hash.
    async fn pending_invitation(&self, token_hash: &KeyHash, now: Millis) -> StoreResult<Option<Invitation>>;

    /// Signs a new person up through the pending invitation with this token
    /// hash, atomically: `user` (whose email must be the invited one, else
    /// [`AcceptError::WrongUser`]), their membership of the invitation's
    /// organization with its role, the invitation used up, `session` and
    /// `events`. Nothing is stored if the invitation is not pending
    /// ([`AcceptError::NotFound`]) or the email is taken (a conflict,
    /// [`Unique::UserEmail`]).
    async fn sign_up_invited(
        &self,
        token_hash: &KeyHash,
        user: &NewUser,
        password_hash: &str,
        session: &Session,
        now: Millis,
        events: &[AuditEvent],
    ) -> StoreResult<Result<Invitation, AcceptError>>;

    /// Accepts the pending invitation with this token hash for `user`,
    /// atomically adding the membership, using up the invitation and
    /// appending the audit event `event` builds from the invitation found
    /// (its organization and id are known only then).
    async fn accept_invitation(
        &self,
        token_hash: &KeyHash,
        user: &User,
        now: Millis,
        event: &(dyn for<'i> Fn(&'i Invitation) -> AuditEvent + Send + Sync),
    ) -> StoreResult<Result<Invitation, AcceptError>>;
}

/// Signing in without a password: identities at identity providers, and
/// sign-ins in progress ([`AuthRequest`]). Changes that are audited take
/// their [`AuditEvent`]s into their transaction.
#[async_trait]
pub trait SignInStore: Send + Sync {
    /// The identity with this issuer and subject.
    async fn identity(&self, issuer: &str, subject: &str) -> StoreResult<Option<Identity>>;

    /// A person's identities, oldest first.
    async fn list_identities(&self, user_id: &UserId) -> StoreResult<Vec<Identity>>;

    /// Links `identity` to its user and appends `event`, atomically.
    /// [`Unique::Identity`] if the issuer and subject are linked already.
    async fn link_identity(&self, identity: &Identity, event: &AuditEvent) -> StoreResult<()>;

    /// Unlinks one of `user_id`'s identities and appends `event`; `false` if
    /// they have no such identity. [`Conflict::LastSignInMethod`] (nothing
    /// changed) if it is the only way they can sign in: no password and no
    /// other identity.
    async fn unlink_identity(&self, user_id: &UserId, id: &IdentityId, event: &AuditEvent) -> StoreResult<bool>;

    /// Signs in with a linked identity: notes the sign-in and the email the
    /// provider gave on the identity, inserts `session` and appends
    /// `event`, atomically.
    async fn sign_in_with_identity(
        &self,
        id: &IdentityId,
        email: Option<&str>,
        session: &Session,
        event: &AuditEvent,
    ) -> StoreResult<()>;

    /// Creates a person who arrives from an identity provider (just in
    /// time): `user` without a password (its email verified at its creation
    /// when `email_verified`), their membership of `org_id` with `role`,
    /// `identity`, `session` and `events`, atomically. [`Unique::UserEmail`]
    /// or [`Unique::Identity`] if either is taken.
    #[expect(clippy::too_many_arguments, reason = "one atomic sign-up, each part a record of its own")]
    async fn sign_up_with_identity(
        &self,
        user: &NewUser,
        email_verified: bool,
        org_id: &OrgId,
        role: Role,
        identity: &Identity,
        session: &Session,
        events: &[AuditEvent],
    ) -> StoreResult<()>;

    /// The user with this (lowercased) email, if their email is verified.
    async fn verified_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;

    /// An organization by id or slug.
    async fn org_by_id_or_slug(&self, id_or_slug: &str) -> StoreResult<Option<Org>>;

    /// Stores a sign-in in progress; expired ones are dropped on the way.
    async fn insert_auth_request(&self, request: &AuthRequest) -> StoreResult<()>;

    /// Takes (deletes and returns) the unexpired request of `kind` with
    /// this hash: a second take of the same one finds nothing.
    async fn take_auth_request(
        &self,
        kind: AuthRequestKind,
        hash: &KeyHash,
        now: Millis,
    ) -> StoreResult<Option<AuthRequest>>;

    /// The unexpired device authorization with this user code, undecided.
    async fn pending_device(&self, user_code_hash: &KeyHash, now: Millis) -> StoreResult<Option<AuthRequest>>;

    /// Records a person's decision on the undecided, unexpired device
    /// authorization with this user code (approving binds it to `user_id`
    /// acting in `org_id`), and appends `event`; `false` if there is none.
    async fn decide_device(
        &self,
        user_code_hash: &KeyHash,
        decision: Decision,
        user_id: &UserId,
        org_id: Option<&OrgId>,
        now: Millis,
        event: &AuditEvent,
    ) -> StoreResult<bool>;

    /// A device's poll: notes it (keeping the poll before it in
    /// `prev_polled_at`) and returns the authorization as it stands, expired
    /// or not; `None` if there is no such device code.
    async fn poll_device(&self, hash: &KeyHash, now: Millis) -> StoreResult<Option<AuthRequest>>;

    /// Takes the approved device authorization with this hash (as
    /// [`SignInStore::take_auth_request`], only once approved), inserts
    /// `session` for the approver and appends `event`, atomically; `None`
    /// (nothing stored) if another poll took it first.
    async fn redeem_device(
        &self,
        hash: &KeyHash,
        session: &Session,
        event: &AuditEvent,
    ) -> StoreResult<Option<AuthRequest>>;

    /// Drops a device authorization (expired or denied, once its device
    /// was told).
    async fn drop_auth_request(&self, hash: &KeyHash) -> StoreResult<()>;
}
