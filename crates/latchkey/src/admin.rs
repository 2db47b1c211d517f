//! `latchkey admin …`: operator commands on the data directory.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use latchkey_core::OrgId;
use latchkey_core::crypto::MasterKey;
use latchkey_core::time_fmt::now_ms;
use latchkey_core::{Environment, KeyPrefix, PlainKey};
use latchkey_server::keyring::{KeySource, Keyring, pending_path, read_key_file, sync_dir, write_key_file};
use latchkey_store::{AuditEvent, Conflict, NewApiKey, Rewrap, Store, StoreError};

use crate::init::{InitArgs, events, prepare, report};
use crate::master_key::MasterKeyArgs;
use crate::storage::StorageArgs;

/// Operator commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create another organization with its admin and a `*` API key (an
    /// existing user with that email becomes its admin).
    CreateOrg(InitArgs),
    /// Set a user's login password (read from the first line of stdin, so it
    /// stays out of the shell history and the process list).
    SetPassword(SetPasswordArgs),
    /// Re-wrap every organization's data key with a new master key (secret
    /// values are not touched). With a key file (`<data-dir>/master.key` or
    /// LATCHKEY_MASTER_KEY_FILE) the new key replaces it once every data key
    /// is re-wrapped, and running servers pick it up by themselves; with
    /// LATCHKEY_MASTER_KEY, give the new key with --new-key-file and restart
    /// every node with it afterwards.
    RotateMasterKey(RotateArgs),
    /// Mint an organization-owned service key, printed once, with scopes no
    /// API request can grant: `secret:resolve` (resolve any member's
    /// secrets through `GET /v1/secrets/resolve?user=`), `oauth:token`
    /// (hand out any member's connected-app access tokens through `POST
    /// /v1/oauth/token`) and, if given, any catalog scope. The creation is in the organization's audit trail
    /// (actor `operator`).
    CreateServiceKey(ServiceKeyArgs),
    /// Take a consistent copy of the SQLite database while the server runs
    /// (`VACUUM INTO`), with a manifest in `FILE.manifest.json` (version,
    /// schema, counts, the master key's id; never the key). On PostgreSQL
    /// it refuses: use pg_dump or point-in-time recovery.
    Backup(crate::ops::BackupArgs),
    /// Restore a backup into a new, empty data directory, after checking
    /// its manifest and `PRAGMA integrity_check`, and say whether the
    /// master key available now matches the one its secrets are sealed
    /// with.
    Restore(crate::ops::RestoreArgs),
    /// Copy a whole SQLite installation into an empty PostgreSQL database,
    /// in one transaction, printing the rows copied per table.
    Migrate(crate::ops::MigrateArgs),
    /// Pre-flight check: the configuration file, the database and its
    /// schema version, Redis, the master key against the stored data keys,
    /// and file modes; one line per check, exit status 0 only when all is
    /// well.
    Check(crate::ops::check::CheckArgs),
}

/// `latchkey admin create-service-key`
#[derive(Debug, Args)]
pub struct ServiceKeyArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The organization's id (`org_…`).
    #[arg(long)]
    org: String,
    /// A scope of the key (repeat for several), e.g. `secret:resolve` or
    /// `oauth:token`.
    #[arg(long = "scope", required = true)]
    scopes: Vec<String>,
    /// The key's name.
    #[arg(long, default_value = "platform service key")]
    name: String,
    /// Brand prefix of the key (`lk` gives `lk_live_…`).
    #[arg(long, env = "LATCHKEY_BRAND", default_value = "lk")]
    brand: String,
    /// Print `{"keyId","orgId","scopes","apiKey"}` instead of text.
    #[arg(long)]
    json: bool,
}

/// `latchkey admin rotate-master-key`
#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    master_key: MasterKeyArgs,
    /// The new master key: a file holding 32 bytes as base64 or hex.
    /// Default: a new random key.
    #[arg(long)]
    new_key_file: Option<PathBuf>,
}

/// `latchkey admin set-password`
#[derive(Debug, Args)]
pub struct SetPasswordArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The user's email.
    #[arg(long)]
    email: String,
}

/// Runs an admin command.
pub async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::CreateOrg(args) => {
            let b = prepare(&args)?;
            let store = args.storage.open().await?;
            let user_id = store.create_org_with_admin(&b.org, &b.user, &b.key, &events(&b)).await?;
            report(&args, &b, &user_id, None);
            Ok(())
        }
        AdminCommand::SetPassword(args) => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password).context("cannot read the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']);
            let hash = latchkey_core::password::hash_password(password)?;
            let store = args.storage.open().await?;
            let email = args.email.trim().to_lowercase();
            let (user, _) =
                store.user_by_email(&email).await?.with_context(|| format!("no user with email {email}"))?;
            store.set_password(&user.id, &hash).await?;
            println!("password set for {email} ({})", user.id);
            Ok(())
        }
        AdminCommand::RotateMasterKey(args) => rotate_master_key(&args).await,
        AdminCommand::CreateServiceKey(args) => create_service_key(&args).await,
        AdminCommand::Backup(args) => crate::ops::backup(&args).await,
        AdminCommand::Restore(args) => crate::ops::restore(&args).await,
        AdminCommand::Migrate(args) => crate::ops::migrate(&args).await,
        AdminCommand::Check(args) => crate::ops::check::run(&args).await,
    }
}

/// `latchkey admin create-service-key`: see [`AdminCommand::CreateServiceKey`].
async fn create_service_key(args: &ServiceKeyArgs) -> anyhow::Result<()> {
    let catalog = latchkey_core::profiles::default_catalog();
    let scopes = catalog.parse_scopes(&args.scopes)?;
    let name = latchkey_core::text::check_name(&args.name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let prefix = KeyPrefix::branded(&args.brand, Environment::Live)
        .map_err(|_| anyhow::anyhow!("--brand must be lowercase letters and digits, starting with a letter"))?;
    let store = args.storage.open().await?;
    // A String, not an OrgId: `--org` is also the client commands' global
    // flag, and clap holds one type per flag name.
    let org = store
        .get_org(&OrgId::from(args.org.as_str()))
        .await?
        .with_context(|| format!("no organization {}", args.org))?;
    let plain = PlainKey::generate(&prefix);
    let now = now_ms();
    let key = NewApiKey::operator(&plain, &org.id, None, name, scopes, now);
    let details = serde_json::json!({
        "name": key.name, "scopes": key.scopes, "owner": "org", "via": "latchkey admin create-service-key",
    });
    let event = AuditEvent::operator(&org.id, "api_key.create", ("api_key", &key.id), &details, now);
    // The key and its audit event in one transaction.
    store.insert_key(&key, &event).await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"keyId": key.id, "orgId": org.id, "scopes": key.scopes, "apiKey": plain.expose()})
        );
    } else {
        println!("Service key {} of {} ({}), scopes {}", key.id, org.id, org.name, key.scopes.to_strings().join(" "));
        println!();
        println!("API key (shown once; store it securely):");
        println!("  {}", plain.expose());
    }
    Ok(())
}

/// Re-wraps every data key still wrapped by another key than `new`, in one
/// transaction; returns how many.
async fn rewrap_all(store: &dyn Store, ring: &Keyring, new: &MasterKey) -> anyhow::Result<usize> {
    for attempt in 1..=3 {
        let mut rewraps = Vec::new();
        for k in store.all_data_keys().await?.into_iter().filter(|k| k.master_key_id != new.id()) {
            let old = ring.get(&k.master_key_id).with_context(|| format!("the data key of {}", k.org_id))?;
            let data_key = old
                .unwrap(&k.org_id, &k.wrapped)
                .with_context(|| format!("cannot unwrap the data key of {} with {}", k.org_id, old.id()))?;
            rewraps.push(Rewrap {
                org_id: k.org_id.clone(),
                old_master_key_id: k.master_key_id.clone(),
                new_master_key_id: new.id().to_owned(),
                wrapped: new.wrap(&k.org_id, &data_key)?,
            });
        }
        match store.rewrap_data_keys(&rewraps, now_ms()).await {
            Ok(n) => return Ok(n),
            Err(StoreError::Conflict(why @ Conflict::Changed { .. })) if attempt < 3 => eprintln!("retrying: {why}"),
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("data keys kept changing during the re-wrap; nothing was changed, try again")
}

/// `latchkey admin rotate-master-key`: see [`AdminCommand::RotateMasterKey`].
async fn rotate_master_key(args: &RotateArgs) -> anyhow::Result<()> {
    let store = args.storage.open().await?;
    let (ring, _) = args.master_key.load(&args.storage.data_dir, false)?;
    let current = ring.current();
    let given = match &args.new_key_file {
        Some(path) => Some(read_key_file(path).with_context(|| format!("--new-key-file {}", path.display()))?),
        None => None,
    };
    let (new, file) = match ring.source() {
        KeySource::Env => {
            let new = given.context(
                "LATCHKEY_MASTER_KEY is set: give the new key with --new-key-file, then set LATCHKEY_MASTER_KEY to it \
                 on every node",
            )?;
            (new, None)
        }
        KeySource::File(path) => {
            let pending = pending_path(path);
            // An interrupted rotation left its new key behind: finish that one.
            let new = if pending.exists() {
                let left = read_key_file(&pending)?;
                if given.as_ref().is_some_and(|g| g.id() != left.id()) {
                    anyhow::bail!(
                        "{} holds the new key of an unfinished rotation ({}); run again without --new-key-file to \
                         finish it",
                        pending.display(),
                        left.id()
                    );
                }
                eprintln!("finishing the rotation to {} left in {}", left.id(), pending.display());
                left
            } else {
                let new = match given {
                    Some(k) => k,
                    None => MasterKey::generate()?,
                };
                // Nodes find the new key here as soon as a data key needs it.
                write_key_file(&pending, &new)?;
                new
            };
            (new, Some((path.clone(), pending)))
        }
    };
    if new.id() == current.id() && file.as_ref().is_none_or(|(_, p)| !p.exists()) {
        anyhow::bail!("the new master key is the current one ({})", new.id());
    }
    let n = rewrap_all(store.as_ref(), &ring, &new).await?;
    if let Some((path, pending)) = &file {
        std::fs::rename(pending, path)
            .with_context(|| format!("cannot move {} to {}", pending.display(), path.display()))?;
        sync_dir(path)?;
        // A node that wrapped a new organization's data key with the old key
        // just before the file changed: re-wrap that too.
        let late = rewrap_all(store.as_ref(), &ring, &new).await?;
        println!(
            "re-wrapped {} data key(s): master key {} replaces {} in {}",
            n + late,
            new.id(),
            current.id(),
            path.display()
        );
        println!("running servers read the new key file by themselves; back it up (the old key is gone)");
    } else {
        println!("re-wrapped {n} data key(s) with master key {} (was {})", new.id(), current.id());
        println!("now set LATCHKEY_MASTER_KEY to the new key on every node and restart them");
    }
    Ok(())
}
