//! `latchkey init` and the shared "new organization" logic.

use anyhow::bail;
use clap::Args;
use latchkey_core::id::{OrgId, UserId};
use latchkey_core::time_fmt::now_ms;
use latchkey_core::{Environment, KeyPrefix, PlainKey};
use latchkey_store::{AuditEvent, Conflict, NewApiKey, NewOrg, NewUser, StoreError};

use crate::storage::StorageArgs;

/// `latchkey init` options.
#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Name of the organization.
    #[arg(long)]
    pub org: String,
    /// Email of its first admin.
    #[arg(long)]
    pub email: String,
    /// Display name of the admin (default: the email's local part).
    #[arg(long)]
    pub name: Option<String>,
    /// Brand prefix of the key (`lk` gives `lk_live_…`).
    #[arg(long, env = "LATCHKEY_BRAND", default_value = "lk")]
    pub brand: String,
    /// Print `{"orgId","userId","apiKey"}` instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A new organization, its admin and their first `*` key.
pub struct Bootstrap {
    pub org: NewOrg,
    pub user: NewUser,
    pub key: NewApiKey,
    pub plain: PlainKey,
}

/// Validates the arguments and mints the records.
pub fn prepare(args: &InitArgs) -> anyhow::Result<Bootstrap> {
    let org_name = latchkey_core::text::check_name(&args.org).map_err(|e| anyhow::anyhow!("--org: {e}"))?;
    let Some(email) = latchkey_core::text::check_email(&args.email) else {
        bail!("--email `{}` is not an email address", latchkey_core::text::escape_controls(&args.email));
    };
    let prefix = KeyPrefix::branded(&args.brand, Environment::Live)
        .map_err(|_| anyhow::anyhow!("--brand must be lowercase letters and digits, starting with a letter"))?;
    let now = now_ms();
    let org = NewOrg {
        id: OrgId::new(),
        name: org_name.to_owned(),
        slug: latchkey_core::id::slugify(org_name),
        members_see_all_keys: false,
        leak_action: latchkey_store::LeakAction::default(),
        created_at: now,
    };
    let display_name = match &args.name {
        Some(name) => latchkey_core::text::check_name(name).map_err(|e| anyhow::anyhow!("--name: {e}"))?.to_owned(),
        None => email.split('@').next().unwrap_or_default().to_owned(),
    };
    let user = NewUser { id: UserId::new(), email, display_name, created_at: now };
    let plain = PlainKey::generate(&prefix);
    let key = NewApiKey::admin(&plain, &org.id, &user.id, "bootstrap admin key", now);
    Ok(Bootstrap { org, user, key, plain })
}

/// The audit events of a new organization made at the command line
/// (`org.create`, and `api_key.create` for the admin's key), stored in the
/// same transaction as the organization.
pub fn events(b: &Bootstrap) -> Vec<AuditEvent> {
    let at = b.org.created_at;
    vec![
        AuditEvent::operator(&b.org.id, "org.create", ("org", &b.org.id), &serde_json::json!({"name": b.org.name}), at),
        AuditEvent::operator(
            &b.org.id,
            "api_key.create",
            ("api_key", &b.key.id),
            &serde_json::json!({"name": b.key.name, "scopes": b.key.scopes, "owner": "user"}),
            at,
        ),
    ]
}

/// Prints the result; the key (and the first admin's password, when `init`
/// made one) is printed once, here.
pub fn report(args: &InitArgs, b: &Bootstrap, user_id: &UserId, password: Option<&str>) {
    if args.json {
        let mut out = serde_json::json!({"orgId": b.org.id, "userId": user_id, "apiKey": b.plain.expose()});
        if let Some(p) = password {
            out["password"] = p.into();
        }
        println!("{out}");
    } else {
        println!("Initialized latchkey in {}", args.storage.describe());
        println!("  organization  {}  ({})", b.org.id, b.org.name);
        println!("  admin         {}  ({})", user_id, b.user.email);
        println!();
        println!("API key with scope `*` (shown once; store it securely):");
        println!("  {}", b.plain.expose());
        if let Some(p) = password {
            println!();
            println!("Dashboard (/dashboard): sign in as {} with this password (shown once):", b.user.email);
            println!("  {p}");
        }
    }
}

/// Runs `latchkey init`.
pub async fn run(args: InitArgs) -> anyhow::Result<()> {
    let b = prepare(&args)?;
    let store = args.storage.open().await?;
    match store.bootstrap(&b.org, &b.user, &b.key, &events(&b)).await {
        Ok(()) => {
            // The first admin signs in to the dashboard with a password of
            // their own: a random one, shown once (change it with
            // `latchkey admin set-password`).
            let password = latchkey_core::password::generate_password()?;
            let hash = latchkey_core::password::hash_password(&password)?;
            store.set_password(&b.user.id, &hash).await?;
            report(&args, &b, &b.user.id, Some(&password));
            Ok(())
        }
        Err(StoreError::Conflict(why @ Conflict::AlreadyInitialized { .. })) => {
            bail!(
                "{} is {why}; nothing was changed (use `latchkey admin create-org` for another organization)",
                args.storage.describe()
            )
        }
        Err(e) => Err(e.into()),
    }
}
