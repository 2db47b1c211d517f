//! `latchkey serve`

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use latchkey_server::Settings;
use latchkey_verify::VerifierConfig;
use tracing_subscriber::EnvFilter;

use crate::master_key::{MasterKeyArgs, check_data_keys};
use crate::storage::StorageArgs;

/// `latchkey serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    storage: StorageArgs,
    #[command(flatten)]
    master_key: MasterKeyArgs,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LATCHKEY_LISTEN", default_value = "127.0.0.1:7420")]
    listen: SocketAddr,
    /// Brand prefix of minted keys (`lk` gives `lk_live_…`).
    #[arg(long, env = "LATCHKEY_BRAND", default_value = "lk")]
    brand: String,
    /// Configuration file (default: `<data-dir>/latchkey.toml` if present).
    #[arg(long, env = "LATCHKEY_CONFIG")]
    config: Option<PathBuf>,
    /// Redis for rate limits shared by every node (`redis://127.0.0.1:6379`);
    /// without it each node limits on its own.
    #[arg(long, env = "LATCHKEY_REDIS_URL")]
    redis_url: Option<String>,
    /// Threads that serve requests (default: the CPUs this process may run
    /// on). With one, the server runs on tokio's current-thread scheduler,
    /// which has no work-stealing to pay for.
    #[arg(long, env = "LATCHKEY_WORKERS")]
    workers: Option<NonZeroUsize>,
    /// Log output: `text` or `json`.
    #[arg(long, env = "LATCHKEY_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Serve `GET /metrics` on this address instead of the main listener
    /// (overrides `metrics_listen` in latchkey.toml).
    #[arg(long, env = "LATCHKEY_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Time a connection has to send a request's headers (`10s`; overrides
    /// `server.header_read_timeout` in latchkey.toml).
    #[arg(long, value_parser = crate::config::seconds)]
    header_read_timeout: Option<Duration>,
    /// Time a kept-alive connection may sit idle between requests (`60s`).
    #[arg(long, value_parser = crate::config::seconds)]
    idle_timeout: Option<Duration>,
    /// Connections served at once; more are answered 503 (default: 10000,
    /// or fewer to fit the open-file limit).
    #[arg(long)]
    max_connections: Option<NonZeroUsize>,
    /// On SIGTERM, time in-flight requests get before the remaining
    /// connections are dropped (`10s`).
    #[arg(long, value_parser = crate::config::seconds)]
    shutdown_deadline: Option<Duration>,
    /// On SIGTERM, after the connections, time pending key usage gets to be
    /// written (`2s`, 0 to 60 s); what is left is spilled to a file in the
    /// data directory and written at the next start.
    #[arg(long, value_parser = crate::config::usage_flush_deadline)]
    usage_flush_deadline: Option<Duration>,
    /// Memory for cached keys, in MiB (1 to 65536): about 5,500 keys per
    /// MiB; beyond it the least used keys are evicted and load again from
    /// storage when next used.
    #[arg(long, env = "LATCHKEY_KEY_CACHE_MIB", default_value_t = 64, value_parser = key_cache_mib)]
    key_cache_mib: u64,
    /// Also serve `POST /bench/echo` (parses a verify body, no auth): the
    /// baseline of the verify benchmark.
    #[arg(long, hide = true)]
    bench_echo: bool,
}

/// Largest `--key-cache-mib`: 64 GiB.
const MAX_KEY_CACHE_MIB: u64 = 65_536;

/// Parses `--key-cache-mib`: a whole number of MiB from 1 to
/// [`MAX_KEY_CACHE_MIB`].
fn key_cache_mib(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(mib) if (1..=MAX_KEY_CACHE_MIB).contains(&mib) => Ok(mib),
        _ => Err(format!("the key cache size is a whole number of MiB from 1 to {MAX_KEY_CACHE_MIB}")),
    }
}

impl ServeArgs {
    /// How many threads serve requests: `--workers`, else the CPUs this
    /// process may run on (its affinity and CPU quota), else one.
    pub fn workers(&self) -> usize {
        self.workers.or_else(|| std::thread::available_parallelism().ok()).map_or(1, NonZeroUsize::get)
    }
}

/// Runs the server until SIGINT or SIGTERM; `workers` is
/// [`ServeArgs::workers`], which sized the runtime it runs on.
pub async fn run(args: ServeArgs, workers: usize) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_from_env("LATCHKEY_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none())
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        subscriber.json().init();
    } else {
        subscriber.init();
    }
    latchkey_core::KeyPrefix::branded(&args.brand, latchkey_core::Environment::Live)
        .map_err(|_| anyhow::anyhow!("--brand must be lowercase letters and digits, starting with a letter"))?;

    let store = args.storage.open().await?;
    let (keyring, created) = args.master_key.load(&args.storage.data_dir, true)?;
    if created {
        tracing::warn!(
            file = %keyring.source().describe(),
            master_key = %keyring.current().id(),
            "created a new master key for secrets; back it up: without it, stored secrets cannot be decrypted"
        );
    }
    let data_keys = check_data_keys(store.as_ref(), &keyring).await?;
    tracing::info!(master_key = %keyring.current().id(), source = %keyring.source().describe(), data_keys, "master key loaded");
    let mut settings = Settings { brand: args.brand, bench_echo: args.bench_echo, ..Settings::default() };
    if let Some(path) = crate::config::apply(args.config.as_deref(), &args.storage.data_dir, &mut settings)? {
        tracing::info!(config = %path.display(), routes = settings.routes.len(), "configuration read");
    }
    crate::config::apply_env(&mut settings)?;
    settings.metrics_listen = args.metrics_listen.or(settings.metrics_listen);
    let conns = &mut settings.connections;
    conns.header_read_timeout = args.header_read_timeout.unwrap_or(conns.header_read_timeout);
    conns.idle_timeout = args.idle_timeout.unwrap_or(conns.idle_timeout);
    conns.shutdown_deadline = args.shutdown_deadline.unwrap_or(conns.shutdown_deadline);
    conns.max_connections = args.max_connections.map_or(conns.max_connections, NonZeroUsize::get);
    settings.usage_flush_deadline = args.usage_flush_deadline.unwrap_or(settings.usage_flush_deadline);
    settings.usage_spill_dir = Some(args.storage.data_dir.clone());
    let shared_limits = match &args.redis_url {
        Some(url) => Some(
            latchkey_verify::shared_limits::RedisLimiter::new(url)
                .with_context(|| format!("invalid --redis-url {url}"))?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    settings.listen_origin = Some(format!("http://{addr}"));
    if settings.public_url.is_none() && !settings.oauth.is_empty() {
        tracing::warn!(
            callback = %format!("http://{addr}/v1/oauth/callback"),
            "connected apps are configured without public_url: their callback URL is made from the listening \
             address; set public_url to the origin people reach latchkey at, and register its /v1/oauth/callback \
             at each provider"
        );
    }
    let verifier = VerifierConfig { cache_bytes: args.key_cache_mib << 20, ..VerifierConfig::default() };
    let state =
        latchkey_server::state(store, settings, &verifier, shared_limits)?.with_keyring(std::sync::Arc::new(keyring));
    let conns = &state.settings.connections;
    tracing::info!(
        %addr,
        storage = %args.storage.describe(),
        workers,
        max_connections = conns.max_connections,
        key_cache_mib = args.key_cache_mib,
        header_read_timeout_s = conns.header_read_timeout.as_secs(),
        idle_timeout_s = conns.idle_timeout.as_secs(),
        "latchkey serving"
    );
    // A line for people and for scripts that started us on port 0.
    println!("latchkey listening on http://{addr}");
    let metrics_listener = match state.settings.metrics_listen {
        Some(at) => {
            let l = tokio::net::TcpListener::bind(at).await.with_context(|| format!("cannot listen on {at}"))?;
            let at = l.local_addr()?;
            tracing::info!(%at, "metrics served on their own listener");
            println!("latchkey metrics on http://{at}/metrics");
            Some(l)
        }
        None => None,
    };
    latchkey_server::serve(listener, metrics_listener, state, shutdown_signal()).await?;
    tracing::info!("latchkey stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; draining");
}
