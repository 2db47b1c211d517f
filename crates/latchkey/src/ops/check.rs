//! `latchkey admin check`: the pre-flight check (`ExecStartPre=` of the
//! service unit). It reads, never changes: the configuration file, the
//! database (reached, and its schema against this binary's), Redis, the
//! master key against the data keys in the database, and the modes of the
//! data directory, the database, the key file and the configuration file.
//! One line per check (`ok` or `FAIL`); exit status 0 only when every
//! check passed.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use latchkey_server::Settings;
use latchkey_server::keyring::MASTER_KEY_FILE;
use latchkey_store::ops;
use latchkey_store::sqlite::DB_FILE;

use crate::master_key::{MasterKeyArgs, unknown_master_keys};
use crate::storage::StorageArgs;

/// `latchkey admin check`
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    master_key: MasterKeyArgs,
    /// Configuration file (default: `<data-dir>/latchkey.toml` if present).
    #[arg(long, env = "LATCHKEY_CONFIG")]
    config: Option<PathBuf>,
    /// Redis for shared rate limits, checked if given.
    #[arg(long, env = "LATCHKEY_REDIS_URL")]
    redis_url: Option<String>,
}

/// The results so far.
#[derive(Default)]
struct Report {
    failures: usize,
}

impl Report {
    fn ok(&mut self, what: &str, detail: impl std::fmt::Display) {
        println!("ok    {what}: {detail}");
    }

    fn fail(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.failures += 1;
        println!("FAIL  {what}: {detail}");
    }
}

/// Runs every check; fails (exit status 1) when any found a problem.
pub async fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let mut report = Report::default();
    check_config(&mut report, args.config.as_deref(), &args.storage.data_dir);
    let sealed_with = check_database(&mut report, &args.storage).await;
    check_redis(&mut report, args.redis_url.as_deref()).await;
    check_master_key(&mut report, &args.master_key, &args.storage.data_dir, sealed_with.as_deref());
    check_modes(&mut report, args);
    if report.failures > 0 {
        return Err(crate::cli::CliError::Refused(format!("{} problem(s) found", report.failures)).into());
    }
    println!("all checks passed");
    Ok(())
}

/// The configuration file: parsed and applied to default settings, as
/// `serve` does; a problem is reported with its line.
fn check_config(report: &mut Report, explicit: Option<&Path>, data_dir: &Path) {
    let path = explicit.map_or_else(|| data_dir.join("latchkey.toml"), Path::to_path_buf);
    if explicit.is_none() && !path.exists() {
        report.ok("config", "no latchkey.toml (defaults)");
        return;
    }
    let mut settings = Settings::default();
    match crate::config::apply(Some(&path), data_dir, &mut settings) {
        Ok(_) => report.ok("config", path.display()),
        Err(e) => {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            report.fail("config", format!("{}: {}", path.display(), config_problem(&e, &text)));
        }
    }
}

/// One line for a configuration error: `line N: message`. A TOML error
/// carries its span; a value refused after parsing names its setting
/// first (`session_ttl: …`), whose line is looked up.
fn config_problem(e: &anyhow::Error, text: &str) -> String {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    if let Some(de) = e.downcast_ref::<toml::de::Error>() {
        let message = de.message().replace('\n', " ");
        return match de.span() {
            Some(span) => format!("line {}: {message}", line_of(span.start)),
            None => message,
        };
    }
    let message = format!("{e:#}").replace('\n', " ");
    let setting: String = message.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == '.').collect();
    let key = setting.rsplit('.').next().unwrap_or_default();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if !key.is_empty() && trimmed.starts_with(key) && trimmed[key.len()..].trim_start().starts_with('=') {
            return format!("line {}: {message}", line_of(offset));
        }
        offset += line.len();
    }
    message
}

/// The database: reached, and its schema not newer than this binary's.
/// Returns the master key ids its data keys are wrapped with (None when
/// the database could not be read or is too new).
async fn check_database(report: &mut Report, storage: &StorageArgs) -> Option<Vec<String>> {
    let (at, found) = match &storage.database_url {
        None => {
            let at = storage.data_dir.join(DB_FILE).display().to_string();
            (at, ops::inspect_sqlite(&storage.data_dir).await)
        }
        Some(url) => (storage.describe(), ops::inspect_postgres(url).await),
    };
    match found {
        Err(e) => {
            report.fail("database", format!("cannot read {at}: {:#}", anyhow::Error::from(e)));
            None
        }
        Ok(None) => {
            report.ok("database", format!("none yet at {at} (created at first start)"));
            Some(Vec::new())
        }
        Ok(Some(found)) => {
            let s = &found.schema;
            if let Err(e) = s.check() {
                report.fail("schema", format!("{at}: {e}"));
                return None;
            }
            let detail = if s.pending > 0 {
                format!("{} migration(s) to apply at start, up to {}", s.pending, s.known)
            } else {
                "this binary's".to_owned()
            };
            report.ok("database", format!("{at}, schema version {} ({detail})", s.applied));
            Some(found.sealed_with)
        }
    }
}

/// Redis, when configured: a `PING`.
async fn check_redis(report: &mut Report, url: Option<&str>) {
    let Some(url) = url else { return };
    let shown = crate::storage::redact_password(url);
    let result = match latchkey_verify::shared_limits::RedisLimiter::new(url) {
        Ok(limiter) => tokio::time::timeout(Duration::from_secs(3), limiter.ping())
            .await
            .map_err(|_| "no answer within 3 s".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string())),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(()) => report.ok("redis", shown),
        Err(e) => report.fail("redis", format!("{shown}: {e}")),
    }
}

/// The master key this node would load against the data keys' ids.
fn check_master_key(report: &mut Report, args: &MasterKeyArgs, data_dir: &Path, sealed_with: Option<&[String]>) {
    let ring = args.load(data_dir, false);
    match (ring, sealed_with) {
        (Ok((ring, _)), Some(sealed)) => {
            let unknown = unknown_master_keys(sealed.iter().map(String::as_str), &ring);
            if unknown.is_empty() {
                report.ok("master key", format!("{} from {}", ring.current().id(), ring.source().describe()));
            } else {
                report.fail(
                    "master key",
                    format!(
                        "the database's secrets are sealed with {} but {} holds {}",
                        unknown.join(", "),
                        ring.source().describe(),
                        ring.ids().join(", ")
                    ),
                );
            }
        }
        (Ok((ring, _)), None) => {
            report.ok("master key", format!("{} (not compared: database unreadable)", ring.current().id()));
        }
        (Err(_), Some([])) => report.ok("master key", "none yet (created at first start)"),
        (Err(e), _) => report.fail("master key", format!("{e:#}")),
    }
}

/// Modes: the data directory, the database files, the key file and the
/// configuration file must not be open to group or others.
fn check_modes(report: &mut Report, args: &CheckArgs) {
    let dir = &args.storage.data_dir;
    let mut paths = vec![dir.clone()];
    if args.storage.database_url.is_none() {
        for suffix in ["", "-wal", "-shm"] {
            paths.push(dir.join(format!("{DB_FILE}{suffix}")));
        }
    }
    if std::env::var_os(latchkey_server::keyring::MASTER_KEY_ENV).is_none() {
        paths.push(args.master_key.master_key_file.clone().unwrap_or_else(|| dir.join(MASTER_KEY_FILE)));
    }
    paths.push(args.config.clone().unwrap_or_else(|| dir.join("latchkey.toml")));
    let mut open = Vec::new();
    for path in paths {
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            let who = if mode & 0o007 != 0 { "everyone" } else { "its group" };
            open.push(format!(
                "{} is open to {who} (mode {mode:o}; chmod {})",
                path.display(),
                if meta.is_dir() { "700" } else { "600" }
            ));
        }
    }
    if open.is_empty() {
        report.ok("permissions", format!("{} and its files are private to their owner", dir.display()));
    }
    for line in open {
        report.fail("permissions", line);
    }
}

#[cfg(test)]
mod tests {
    use super::config_problem;

    #[test]
    fn config_problems_name_their_line() {
        let text = "signup = true\n\nsession_ttl = \"2s\"\n";
        let e = anyhow::anyhow!("session_ttl must be between 1m and 366d");
        assert_eq!(config_problem(&e, text), "line 3: session_ttl must be between 1m and 366d");
        let e = anyhow::anyhow!("something else");
        assert_eq!(config_problem(&e, text), "something else");
    }
}
