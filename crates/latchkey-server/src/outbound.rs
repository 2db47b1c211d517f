//! The HTTP calls latchkey makes to other services (identity providers,
//! OAuth providers): one client policy and one capped body reader.
//!
//! No redirects are followed (a provider's endpoints are the ones it names,
//! and a redirect could carry a client secret elsewhere), every call has a
//! 10 s timeout, and an answer is read up to a cap, never whole.

use std::time::Duration;

/// Time another service gets to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The client for calls to other services.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(TIMEOUT).build().unwrap_or_default()
}

/// The body of a successful answer from `url`, at most `max` bytes; a
/// failure status or a longer body is an error naming `url`.
pub async fn read_capped(mut res: reqwest::Response, url: &str, max: usize) -> Result<Vec<u8>, String> {
    if !res.status().is_success() {
        return Err(format!("{url} answered {}", res.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > max {
            return Err(format!("{url} answered more than {max} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
