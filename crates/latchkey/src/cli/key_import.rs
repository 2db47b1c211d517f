//! `latchkey auth keys import FILE` and `latchkey auth keys export`: keys
//! of another system brought in by their hash (`POST
//! /v1/api-keys/import`), and every key's metadata and hash taken out as
//! JSON lines (`GET /v1/api-keys/export`), for a backup or another server.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use latchkey_client::types::{ExportedApiKey, ImportApiKey};
use serde_json::json;

use super::{CliError, Ctx};

/// `latchkey auth keys import`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// JSON lines, one key per line (`{"hash": {"algorithm": "sha256",
    /// "encoding": "hex", "value": "…"}, "name": …, "scopes": […]}`), or a
    /// JSON array; `-` reads standard input. At most 10,000 keys, imported
    /// all together or not at all.
    file: PathBuf,
    /// FILE is the output of `latchkey auth keys export` (of this or
    /// another server): its active keys are imported, each with its hash,
    /// prefix, name, scopes, expiry, external id and environment;
    /// revoked, expired and disabled ones are left out. The keys become the
    /// organization's, unless --keep-owners.
    #[arg(long)]
    from_export: bool,
    /// With --from-export: keep each key's owner (the same user ids must be
    /// members here).
    #[arg(long, requires = "from_export")]
    keep_owners: bool,
}

/// `latchkey auth keys export`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// How the hashes are written.
    #[arg(long, value_enum, default_value_t = Encoding::Base64url)]
    encoding: Encoding,
    /// Write to this file (created with mode 0600) instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `--encoding`
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Encoding {
    Hex,
    Base64,
    Base64url,
}

impl Encoding {
    fn as_str(self) -> &'static str {
        match self {
            Self::Hex => "hex",
            Self::Base64 => "base64",
            Self::Base64url => "base64url",
        }
    }
}

/// `latchkey auth keys import FILE`
pub async fn import(ctx: &Ctx, args: ImportArgs) -> anyhow::Result<()> {
    let mut body = Vec::new();
    if args.file.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut body).context("cannot read standard input")?;
    } else {
        body = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    }
    if args.from_export {
        body = from_export(&body, args.keep_owners)?;
    }
    let done = ctx.client.import_keys(body).await?;
    if ctx.out.json {
        return ctx.out.print_json(&done);
    }
    println!("Imported {} API keys; they verify by their hash from now on.", done.imported);
    Ok(())
}

/// The import lines of the active keys of an export.
fn from_export(export: &[u8], keep_owners: bool) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(export.len());
    for (i, line) in export.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let k: ExportedApiKey = serde_json::from_slice(line)
            .map_err(|e| CliError::Usage(format!("line {} is not a line of an export: {e}", i + 1)))?;
        if k.status != "active" {
            continue;
        }
        let key = ImportApiKey {
            hash: k.hash,
            prefix: Some(k.prefix).filter(|p| !p.is_empty()),
            name: k.name,
            scopes: k.scopes,
            expires_at: k.expires_at,
            owner_user_id: k.owner_user_id.filter(|_| keep_owners),
            external_id: k.external_id,
            environment: Some(k.environment),
        };
        serde_json::to_writer(&mut out, &key)?;
        out.push(b'\n');
    }
    if out.is_empty() {
        return Err(CliError::Usage("the export holds no active key".to_owned()).into());
    }
    Ok(out)
}

/// `latchkey auth keys export`: the lines as they arrive, to standard
/// output or `--output`.
pub async fn export(ctx: &Ctx, args: ExportArgs) -> anyhow::Result<()> {
    let mut export = ctx.client.export_keys(Some(args.encoding.as_str())).await?;
    let mut sink: Box<dyn std::io::Write> = match &args.output {
        Some(path) => {
            use std::os::unix::fs::OpenOptionsExt as _;
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Box::new(std::io::BufWriter::new(file))
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut keys = 0usize;
    while let Some(chunk) = export.chunk().await? {
        keys += chunk.iter().filter(|&&b| b == b'\n').count();
        sink.write_all(&chunk)?;
    }
    sink.flush()?;
    if let Some(path) = &args.output {
        if ctx.out.json {
            return ctx.out.print_json(&json!({"exported": keys, "file": path}));
        }
        println!("Exported {keys} API keys to {}.", path.display());
    }
    Ok(())
}
