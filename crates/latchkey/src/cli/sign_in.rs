//! `latchkey login` without a password: in a browser, through the
//! dashboard's authorization page and a loopback redirect (RFC 8252, with
//! PKCE), or on another device (RFC 8628's device flow).
//!
//! Browser: the CLI listens on `127.0.0.1` (a port the system picks),
//! prints the authorization page's URL and tries to open a browser. The
//! page, once the person authorizes, redirects the browser to
//! `http://127.0.0.1:{port}/callback?code=…&state=…`; the CLI takes exactly
//! that one request (anything else on the port is answered 404), checks
//! `state` in constant time and exchanges the code with its PKCE verifier.
//!
//! Device: the CLI prints the user code and the verification URL and polls
//! at the server's interval (5 s more after each `slow_down`) until the
//! person approves or denies, or the codes expire.

use std::time::{Duration, Instant};

use anyhow::Context;
use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_client::Client;
use latchkey_client::types::{CliToken, DeviceCodeRequest, DeviceToken, SessionGrant};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::CliError;

/// How long the browser sign-in waits for its callback.
const CALLBACK_WAIT: Duration = Duration::from_secs(5 * 60);

/// Largest request head the loopback listener reads.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// `n` random bytes from the OS, base64url without padding.
fn random_text(n: usize) -> anyhow::Result<String> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("the system's random number generator failed: {e}"))?;
    Ok(Base64UrlUnpadded::encode_string(&bytes))
}

/// RFC 7636's S256 challenge of `verifier`.
fn challenge(verifier: &str) -> String {
    Base64UrlUnpadded::encode_string(&Sha256::digest(verifier.as_bytes()))
}

/// Tries to open `url` in a browser: `$BROWSER`, else `open` on macOS, or
/// `xdg-open` when a display is present (`DISPLAY` or `WAYLAND_DISPLAY`;
/// without one it could start a text browser in this very terminal).
/// Failing is fine: the URL is printed.
pub(super) fn open_browser(url: &str) {
    let mut candidates: Vec<String> = Vec::new();
    if let Ok(b) = std::env::var("BROWSER")
        && !b.trim().is_empty()
    {
        candidates.push(b);
    }
    let display = ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    if cfg!(target_os = "macos") {
        candidates.push("open".to_owned());
    } else if display {
        candidates.push("xdg-open".to_owned());
    }
    for program in candidates {
        let spawned = std::process::Command::new(&program)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if spawned.is_ok() {
            return;
        }
    }
}

/// The browser sign-in: a session for the person who authorizes this CLI
/// on the dashboard of `client`'s server (through `provider` when given).
pub async fn browser(client: &Client, provider: Option<&str>, open: bool) -> anyhow::Result<SessionGrant> {
    let listener = TcpListener::bind("127.0.0.1:0").await.context("cannot listen on a loopback port")?;
    let port = listener.local_addr()?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let verifier = random_text(48)?;
    let state = random_text(24)?;
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge(&verifier))
        .append_pair("code_challenge_method", "S256");
    if let Some(p) = provider {
        query.append_pair("provider", p);
    }
    let url = format!("{}/dashboard/cli/authorize?{}", client.base_url(), query.finish());
    eprintln!("Open this URL to sign in: {url}");
    if open {
        open_browser(&url);
    }
    eprintln!("Waiting for the browser (up to 5 minutes)…");
    let params = tokio::time::timeout(CALLBACK_WAIT, callback(&listener)).await.map_err(|_| {
        CliError::Refused("no answer from the browser within 5 minutes; run `latchkey login` again".into())
    })??;
    let (mut stream, params) = params;
    let get = |k: &str| params.iter().find(|(name, _)| name == k).map(|(_, v)| v.as_str());
    let state_ok = get("state").is_some_and(|s| bool::from(s.as_bytes().ct_eq(state.as_bytes())));
    if let Some(error) = get("error") {
        answer(&mut stream, false, "Sign-in cancelled; you can close this window.").await;
        let what =
            if error == "access_denied" { "access denied: the sign-in was cancelled in the browser" } else { error };
        return Err(CliError::Refused(super::output::clean(what).into_owned()).into());
    }
    if !state_ok {
        answer(&mut stream, false, "This sign-in did not come from this terminal's request; nothing was done.").await;
        return Err(CliError::Refused(
            "the browser's answer did not carry this sign-in's state; nothing was done".into(),
        )
        .into());
    }
    let Some(code) = get("code") else {
        answer(&mut stream, false, "The answer carried no code; nothing was done.").await;
        return Err(CliError::Refused("the browser's answer carried no code".into()).into());
    };
    let body = CliToken { code: code.to_owned(), code_verifier: verifier, redirect_uri };
    match client.cli_token(&body).await {
        Ok(grant) => {
            answer(&mut stream, true, "Signed in; you can close this window.").await;
            Ok(grant)
        }
        Err(e) => {
            answer(&mut stream, false, "The sign-in failed; see your terminal.").await;
            Err(e.into())
        }
    }
}

/// Waits for the one `GET /callback?…` request; anything else on the port
/// is answered 404 and waited past. Returns the connection (to answer) and
/// the query's parameters.
async fn callback(listener: &TcpListener) -> anyhow::Result<(TcpStream, Vec<(String, String)>)> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let Ok(Ok(head)) = tokio::time::timeout(Duration::from_secs(10), read_head(&mut stream)).await else {
            continue;
        };
        let target = head.lines().next().and_then(|l| l.strip_prefix("GET ")).and_then(|l| l.split(' ').next());
        match target.and_then(|t| t.strip_prefix("/callback")) {
            Some(rest) if rest.is_empty() || rest.starts_with('?') => {
                let query = rest.trim_start_matches('?');
                let params = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
                return Ok((stream, params));
            }
            _ => {
                let _ =
                    stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            }
        }
    }
}

/// The request head (up to the blank line), at most [`MAX_REQUEST_HEAD`].
async fn read_head(stream: &mut TcpStream) -> anyhow::Result<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_REQUEST_HEAD {
            anyhow::bail!("bad request");
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// The tiny page the browser shows at the end.
async fn answer(stream: &mut TcpStream, ok: bool, sentence: &str) {
    let title = if ok { "Signed in" } else { "Not signed in" };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · latchkey</title></head>\
         <body><main><h1>{title}</h1><p>{sentence}</p></main></body></html>"
    );
    let status = if ok { "200 OK" } else { "400 Bad Request" };
    let res = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\n\
         connection: close\r\n\r\n{html}",
        html.len()
    );
    let _ = stream.write_all(res.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The device sign-in: a session for the person who approves the printed
/// code on the dashboard (signing in through `provider` when given).
pub async fn device(client: &Client, provider: Option<&str>) -> anyhow::Result<SessionGrant> {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty() && h.len() <= 64);
    let client_name = Some(match host {
        Some(h) => format!("latchkey CLI on {h}"),
        None => "latchkey CLI".to_owned(),
    });
    let codes = client.device_code(&DeviceCodeRequest { client_name }).await?;
    let mut complete = codes.verification_uri_complete.clone();
    if let Some(p) = provider {
        let p: String = url::form_urlencoded::byte_serialize(p.as_bytes()).collect();
        complete.push_str(&format!("&provider={p}"));
    }
    eprintln!("To sign in, open {} and enter the code {}", codes.verification_uri, codes.user_code);
    eprintln!("or open: {complete}");
    eprintln!("Waiting for approval (the code expires in {} minutes)…", codes.expires_in.div_ceil(60));
    let deadline = Instant::now() + Duration::from_secs(codes.expires_in);
    let mut interval = Duration::from_secs(codes.interval.max(1));
    let poll = DeviceToken { device_code: codes.device_code };
    loop {
        tokio::time::sleep(interval).await;
        match client.device_token(&poll).await {
            Ok(grant) => return Ok(grant),
            Err(e) => match e.code() {
                Some("authorization_pending") => {}
                Some("slow_down") => interval += Duration::from_secs(5),
                Some("access_denied") => {
                    return Err(
                        CliError::Refused("access denied: the sign-in was denied on the dashboard".into()).into()
                    );
                }
                Some("expired_token") => {
                    return Err(CliError::Refused(
                        "the code expired before it was approved; run `latchkey login --device` again".into(),
                    )
                    .into());
                }
                _ => return Err(e.into()),
            },
        }
        if Instant::now() >= deadline {
            return Err(CliError::Refused(
                "the code expired before it was approved; run `latchkey login --device` again".into(),
            )
            .into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_and_states_are_long_enough_and_challenges_are_s256() {
        let v = random_text(48).unwrap();
        assert_eq!(v.len(), 64);
        assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(v, random_text(48).unwrap());
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
