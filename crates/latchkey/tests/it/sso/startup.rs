//! A provider down at start, a configuration refused at start, and the
//! per-address budget of started sign-ins.

use super::*;

#[tokio::test]
async fn a_provider_down_at_start_is_retried_and_the_server_serves_meanwhile() {
    // A loopback port with nothing on it yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}");
    let config = tempfile::tempdir().unwrap();
    let file = config.path().join("latchkey.toml");
    std::fs::write(
        &file,
        format!(
            "[[auth.oidc]]\nid = \"late\"\nissuer = \"{issuer}\"\nclient_id = \"late\"\nclient_secret = \"{SECRET}\"\n"
        ),
    )
    .unwrap();
    let server = TestServer::start_with(&["--config", file.to_str().unwrap()]).await;
    assert_eq!(server.anonymous().get("/healthz").await.status, 200);
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let start = format!("{}/v1/auth/oidc/late/start", server.url);
    let r = http.get(&start).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "provider_unavailable");
    // The provider comes up: the next start (on demand, or the background
    // retry) discovers it.
    let _late_idp = crate::idp::Idp::start_on_port(port);
    let ok = crate::common::eventually(std::time::Duration::from_secs(15), || async {
        http.get(&start).send().await.unwrap().status() == 303
    })
    .await;
    assert!(ok, "the provider was not discovered once it came up: {}", server.logs());
    assert!(server.logs().contains("identity provider not discovered; retrying"));
}

#[tokio::test]
async fn a_provider_on_plain_http_elsewhere_than_loopback_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latchkey.toml");
    std::fs::write(&file, "[[auth.oidc]]\nid = \"corp\"\nissuer = \"http://login.example.com\"\nclient_id = \"x\"\n")
        .unwrap();
    let data = dir.path().join("data");
    let out = crate::common::run_cli(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        file.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("issuer `http://login.example.com` must be an https:// URL"), "{err}");
}

#[tokio::test]
async fn sign_ins_started_from_one_address_are_limited() {
    let sso = Sso::start("").await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let start = format!("{}/v1/auth/oidc/corp/start", sso.server.url);
    let mut statuses = Vec::new();
    for _ in 0..61 {
        statuses.push(http.get(&start).send().await.unwrap().status().as_u16());
    }
    assert!(statuses[..60].iter().all(|s| *s == 303), "{statuses:?}");
    let r = http.get(&start).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}
