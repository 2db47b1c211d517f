//! Records to store and the small helpers every case uses.

use std::fmt::Debug;
use std::time::Duration;

use latchkey_core::id::{
    EventId, IdKind, InvitationId, OrgId, ProductId, ProjectId, SecretId, SessionId, SshKeyId, SurfaceId, UserId,
    new_id,
};
use latchkey_core::time_fmt::Millis;
use latchkey_core::{Environment, KeyHash, KeyPrefix, PlainKey, Role};
use latchkey_store::{
    AuditEvent, AuditFilter, Conflict, Invitation, NewApiKey, Org, Page, Product, Project, SecretRecord, Session,
    SshKeyRecord, Store, StoreError, StoreResult, Surface, User,
};

/// The time the cases live at (mid-June 2025).
pub const NOW: Millis = 1_750_000_000_000;

/// An hour, in milliseconds.
pub const HOUR: Millis = 3_600_000;

/// How long a concurrent part of a case may take.
const CONCURRENCY_BOUND: Duration = Duration::from_secs(60);

/// A new live key's plaintext.
pub fn plain_key() -> PlainKey {
    PlainKey::generate(&KeyPrefix::branded("lk", Environment::Live).unwrap())
}

/// The first page of `limit` items.
pub fn page(limit: u32) -> Page {
    Page { limit, before: None }
}

/// The page of `limit` items after (below) the id `before`.
pub fn page_before(limit: u32, before: &str) -> Page {
    Page { limit, before: Some(before.to_owned()) }
}

/// A new organization named `name`, with a unique slug.
pub fn new_org(name: &str) -> Org {
    Org {
        id: OrgId::new(),
        name: name.to_owned(),
        slug: format!("{name}-{}", OrgId::new().to_lowercase()),
        members_see_all_keys: false,
        leak_action: latchkey_store::LeakAction::default(),
        created_at: NOW,
    }
}

/// A new user with `email`, shown as `email`.
pub fn new_user(email: &str) -> User {
    User { id: UserId::new(), email: email.to_owned(), display_name: email.to_owned(), created_at: NOW }
}

/// A login session of `user_id` acting in `org_id`, valid for an hour.
pub fn session(user_id: &UserId, org_id: &OrgId) -> Session {
    Session {
        id: SessionId::new(),
        user_id: user_id.clone(),
        token_hash: KeyHash::of(&SessionId::new()),
        current_org_id: Some(org_id.clone()),
        ip: Some("192.0.2.1".to_owned()),
        user_agent: Some("suite".to_owned()),
        created_at: NOW,
        expires_at: NOW + HOUR,
        last_used_at: None,
        revoked_at: None,
    }
}

/// A pending invitation of `email` to `org_id` as `role`, valid for an hour.
pub fn invitation(org_id: &OrgId, email: &str, role: Role) -> Invitation {
    Invitation {
        id: InvitationId::new(),
        org_id: org_id.clone(),
        email: email.to_owned(),
        role,
        token_hash: KeyHash::of(&InvitationId::new()),
        invited_by: None,
        created_at: NOW,
        expires_at: NOW + HOUR,
        accepted_at: None,
        revoked_at: None,
    }
}

/// A new project of `org_id` named `name`, with a description.
pub fn project(org_id: &OrgId, name: &str) -> Project {
    Project {
        id: ProjectId::new(),
        org_id: org_id.clone(),
        name: name.to_owned(),
        description: Some(format!("about {name}")),
        created_at: NOW,
        updated_at: NOW,
    }
}

/// A new product of `org_id`.
pub fn product(org_id: &OrgId, name: &str) -> Product {
    Product { id: ProductId::new(), org_id: org_id.clone(), name: name.to_owned(), created_at: NOW }
}

/// A new surface of `product_id` in `org_id`.
pub fn surface(org_id: &OrgId, product_id: &ProductId, name: &str) -> Surface {
    Surface {
        id: SurfaceId::new(),
        org_id: org_id.clone(),
        product_id: product_id.clone(),
        name: name.to_owned(),
        created_at: NOW,
    }
}

/// A new secret `name` of `org_id` (organization-wide unless `owner`), at
/// version 1.
pub fn secret(org_id: &OrgId, owner: Option<&UserId>, name: &str) -> SecretRecord {
    SecretRecord {
        id: SecretId::new(),
        org_id: org_id.clone(),
        name: name.to_owned(),
        category: "tool".to_owned(),
        owner_user_id: owner.cloned(),
        ciphertext: new_id(IdKind::Secret).into_bytes(),
        version: 1,
        created_at: NOW,
        updated_at: NOW,
    }
}

/// A new SSH key of `org_id` (organization-wide unless `owner`).
pub fn ssh(org_id: &OrgId, owner: Option<&UserId>, name: &str, fingerprint: &str) -> SshKeyRecord {
    SshKeyRecord {
        id: SshKeyId::new(),
        org_id: org_id.clone(),
        owner_user_id: owner.cloned(),
        name: name.to_owned(),
        algorithm: "ssh-ed25519".to_owned(),
        public_key: format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5{name}"),
        comment: format!("{name}@host"),
        fingerprint: fingerprint.to_owned(),
        bits: 256,
        is_default: false,
        created_at: NOW,
    }
}

/// An audit event of `org_id` whose action is `action`, to hand to a change
/// and look for afterwards ([`logged`]).
pub fn event(org_id: &str, action: &str) -> AuditEvent {
    AuditEvent {
        id: EventId::new(),
        org_id: Some(org_id.into()),
        at: NOW,
        actor_type: "user".to_owned(),
        actor_id: Some(new_id(IdKind::User)),
        action: action.to_owned(),
        target_type: Some("test".to_owned()),
        target_id: Some(new_id(IdKind::Key)),
        ip: Some("192.0.2.1".to_owned()),
        request_id: Some("req-1".to_owned()),
        details: r#"{"test":true}"#.to_owned(),
    }
}

/// An audit event for a change whose event the case does not look at.
pub fn ev() -> AuditEvent {
    event("org_test", "test")
}

/// Whether `e` is in its organization's audit trail, exactly as given.
pub async fn logged(store: &dyn Store, e: &AuditEvent) -> bool {
    let org_id = e.org_id.as_deref().unwrap();
    let filter = AuditFilter { action: Some(e.action.clone()), ..AuditFilter::default() };
    store.list_events(&OrgId::from(org_id), &filter, &page(100)).await.unwrap().contains(e)
}

/// The conflict a storage call was refused with (a uniqueness rule or a
/// precondition), if it was.
pub fn conflict<T: Debug>(result: &StoreResult<T>) -> Option<Conflict> {
    match result {
        Err(StoreError::Conflict(c)) => Some(c.clone()),
        _ => None,
    }
}

/// Awaits `work`, failing the case if it takes longer than a minute (a
/// deadlock, or a lock never released).
pub async fn bounded<T>(what: &str, work: impl Future<Output = T>) -> T {
    match tokio::time::timeout(CONCURRENCY_BOUND, work).await {
        Ok(out) => out,
        Err(_) => panic!("{what} took longer than {CONCURRENCY_BOUND:?}"),
    }
}

/// A bootstrapped organization: `alice` administers it and holds
/// `admin_key` (stored, owned by her).
pub struct World {
    /// The organization.
    pub org: Org,
    /// Its admin.
    pub alice: User,
    /// Alice's first key.
    pub admin_key: NewApiKey,
}

/// Bootstraps the store with an organization, its admin and her key.
pub async fn world(store: &dyn Store) -> World {
    let org = new_org("acme");
    let alice = new_user("alice@example.com");
    let admin_key = NewApiKey::admin(&plain_key(), &org.id, &alice.id, "first", NOW);
    store.bootstrap(&org, &alice, &admin_key, &[]).await.unwrap();
    World { org, alice, admin_key }
}

impl World {
    /// A new key of alice's in the organization (not stored).
    pub fn key(&self, name: &str) -> NewApiKey {
        NewApiKey::admin(&plain_key(), &self.org.id, &self.alice.id, name, NOW)
    }

    /// A new organization-owned key in the organization (not stored).
    pub fn org_key(&self, name: &str) -> NewApiKey {
        NewApiKey { owner_user_id: None, ..self.key(name) }
    }

    /// Another organization, with its own admin (`email`): records of it
    /// must stay invisible from this one.
    pub async fn other_org(&self, store: &dyn Store, email: &str) -> (Org, User) {
        let (org, admin) = (new_org("other"), new_user(email));
        let key = NewApiKey::admin(&plain_key(), &org.id, &admin.id, "other", NOW);
        store.create_org_with_admin(&org, &admin, &key, &[]).await.unwrap();
        (org, admin)
    }

    /// A new person (signed up with an organization of their own) who
    /// joins this organization as `role`.
    pub async fn member(&self, store: &dyn Store, email: &str, role: Role) -> User {
        let user = person(store, email).await;
        join(store, &self.org.id, &user, role).await;
        user
    }
}

/// A person signed up with an organization of their own.
pub async fn person(store: &dyn Store, email: &str) -> User {
    let (user, org) = (new_user(email), new_org("own"));
    store.sign_up(&user, "argon2-hash", &org, &session(&user.id, &org.id), &[]).await.unwrap();
    user
}

/// Makes `user` a member of `org_id` as `role` (invited, and accepting).
pub async fn join(store: &dyn Store, org_id: &OrgId, user: &User, role: Role) {
    let invited = invitation(org_id, &user.email, role);
    store.insert_invitation(&invited, &ev()).await.unwrap();
    store.accept_invitation(&invited.token_hash, user, NOW, &|_| ev()).await.unwrap().unwrap();
}

/// Runs `call(0)`, …, `call(n - 1)` at once, each on a task of its own, and
/// returns their results in that order (all within [`bounded`]'s minute).
pub async fn at_once<T, Fut>(what: &str, n: usize, call: impl Fn(usize) -> Fut) -> Vec<T>
where
    T: Send + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(call(i))).collect();
    bounded(what, async {
        let mut out = Vec::with_capacity(n);
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    })
    .await
}
