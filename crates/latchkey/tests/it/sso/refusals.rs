//! A sign-in's state, used once in its own browser; `return_to`; the
//! sign-in page and the providers' list.

use super::*;

#[tokio::test]
async fn a_state_is_used_once_and_only_in_the_browser_that_started_it() {
    let sso = Sso::start(JIT).await;
    let sub = sso.person("once@corp.example", true, None).await;
    let browser = Browser::new();
    let done = sign_in_in(&browser, &sso, &sub, "/dashboard").await;
    done.signed_in();
    // Replayed, in the same browser: the state is used up.
    let replay = finish(&browser, &done.callback, false).await;
    assert_eq!((replay.status, replay.code()), (400, "invalid_state"), "{}", replay.text);
    assert!(replay.session.is_none());

    // A callback carried to another browser (a login-CSRF attempt): refused,
    // and the state is burnt for the browser that started it too.
    let started_in = Browser::new();
    let start = format!("{}/v1/auth/oidc/corp/start?login_hint={sub}", sso.server.url);
    let callback = to_callback(&started_in, &start).await;
    let elsewhere = finish(&Browser::new(), &callback, false).await;
    assert_eq!((elsewhere.status, elsewhere.code()), (400, "state_mismatch"), "{}", elsewhere.text);
    assert!(elsewhere.session.is_none());
    let late = finish(&started_in, &callback, false).await;
    assert_eq!(late.code(), "invalid_state");

    // Unknown or missing state.
    let http = reqwest::Client::new();
    for query in ["state=made-up&code=x", "code=x", ""] {
        let r = http.get(format!("{}/v1/auth/oidc/corp/callback?{query}", sso.server.url)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_state", "{query}");
    }
}

#[tokio::test]
async fn return_to_stays_on_this_server() {
    let sso = Sso::start(JIT).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for bad in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"] {
        let url = Url::parse_with_params(&format!("{}/v1/auth/oidc/corp/start", sso.server.url), &[("return_to", bad)])
            .unwrap();
        let r = http.get(url).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_return_to", "{bad}");
    }
    let r = http.get(format!("{}/v1/auth/oidc/nope/start", sso.server.url)).send().await.unwrap();
    assert_eq!(r.status(), 404, "an unknown provider");
    // The redirect to the provider carries state, nonce and PKCE (S256).
    let r = http
        .get(format!("{}/v1/auth/oidc/corp/start?return_to=/dashboard/audit", sso.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    let q: HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert!(to.as_str().starts_with(&idp().issuer));
    assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
    for p in ["state", "nonce", "code_challenge"] {
        assert!(q.get(p).is_some_and(|v| v.len() >= 16), "{p}: {q:?}");
    }
    assert_eq!(q.get("client_id"), Some(&sso.client_id));
    assert!(r.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("latchkey_oidc=")));
    // And the person ends where return_to said.
    let sub = sso.person("ret@corp.example", true, None).await;
    let done = sign_in_in(&Browser::new(), &sso, &sub, "/dashboard/audit").await;
    assert_eq!(done.location.as_deref(), Some("/dashboard/audit"));
}

#[tokio::test]
async fn the_sign_in_page_offers_each_provider_and_providers_are_listed() {
    let sso = Sso::start("").await;
    let page = reqwest::get(format!("{}/dashboard/login", sso.server.url)).await.unwrap().text().await.unwrap();
    assert!(page.contains("Sign in with Corp SSO"), "{page}");
    assert!(page.contains("/v1/auth/oidc/corp/start"));
    let r = sso.server.anonymous().get("/v1/auth/oidc/providers").await;
    assert_eq!(r.body, json!({"data": [{"id": "corp", "displayName": "Corp SSO"}]}));
}
