//! What latchkey asks of an OAuth provider (`latchkey_server::oauth::client`,
//! issue 23), against the test IdP acting as a GitHub-like OAuth server:
//! the authorization URL (state, PKCE S256, scopes), the code exchange, the
//! account from userinfo, a refresh that rotates the refresh token, reuse
//! of a rotated refresh token and a revoked grant both answered
//! `InvalidGrant`, RFC 7009 revocation, and tokens kept out of `Debug`.

use latchkey_server::oauth::OAuthProviderConfig;
use latchkey_server::oauth::client::{self, Credentials, TokenError};
use latchkey_server::oidc::ClientSecret;

use crate::idp::{Browser, IdpUser, idp, query_of, unique_sub};

/// A GitHub-like provider entry for the test IdP, its client registered
/// with access tokens living `ttl_secs`, and a person who signs in there.
async fn provider(ttl_secs: u64) -> (OAuthProviderConfig, Credentials, String, String) {
    let (client_id, secret) = (unique_sub("app"), unique_sub("secret"));
    let redirect_uri = "http://127.0.0.1:9/callback".to_owned();
    let ep = idp().oauth_endpoints();
    idp()
        .register_oauth_client(&client_id, &secret, &[&redirect_uri], Some(std::time::Duration::from_secs(ttl_secs)))
        .await;
    let sub = unique_sub("octo");
    let email = format!("{sub}@example.com");
    idp()
        .add_user(IdpUser { sub: &sub, email: &email, email_verified: true, name: "Octo Cat", ..IdpUser::default() })
        .await;
    idp().set_default_user_for(&client_id, &sub).await;
    let p = OAuthProviderConfig {
        id: "octo".into(),
        display_name: "Octo".into(),
        authorize_url: ep.authorize,
        token_url: ep.token,
        revocation_url: Some(ep.revocation),
        userinfo_url: Some(ep.user),
        userinfo_id_field: "sub".into(),
        userinfo_label_field: "preferred_username".into(),
        scopes: vec!["repo".into(), "read:user".into()],
        scope_separator: " ".into(),
        pkce: true,
        client_id: None,
        client_secret: None,
    };
    let creds = Credentials { client_id: client_id.clone(), client_secret: ClientSecret::new(&secret) };
    (p, creds, redirect_uri, sub)
}

/// Runs the authorization in a browser up to the redirect back (never
/// followed: nothing listens there); returns the code.
async fn authorize(p: &OAuthProviderConfig, creds: &Credentials, redirect_uri: &str) -> (String, Option<String>) {
    let (state, verifier) = (client::new_state(), client::new_pkce_verifier());
    assert!(state.len() >= 43 && verifier.len() == 43, "256 random bits each: {state} {verifier}");
    assert_ne!(state, client::new_state());
    let url = client::authorize(p, creds, redirect_uri, &p.scopes, &state, &verifier).unwrap();
    let url = reqwest::Url::parse(&url).unwrap();
    let q = query_of(&url);
    assert_eq!(q.get("scope").map(String::as_str), Some("repo read:user"));
    assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
    assert_eq!(q.get("state"), Some(&state));
    let browser = Browser::new();
    let http = browser.client();
    let mut at = url;
    for _ in 0..20 {
        if at.as_str().starts_with(redirect_uri) {
            let back = query_of(&at);
            assert_eq!(back.get("state"), Some(&state));
            return (back["code"].clone(), Some(verifier));
        }
        let r = http.get(at.clone()).send().await.unwrap();
        let next = r.headers()["location"].to_str().unwrap().to_owned();
        at = at.join(&next).unwrap();
    }
    panic!("never sent back to {redirect_uri}");
}

fn now() -> i64 {
    crate::common::now_ms()
}

#[tokio::test]
async fn a_connection_is_made_refreshed_with_rotation_and_refused_once_its_grant_is_gone() {
    let (p, creds, redirect_uri, sub) = provider(60).await;
    let http = client::http_client();
    let (code, verifier) = authorize(&p, &creds, &redirect_uri).await;
    let before = now();
    let first = client::exchange(&http, &p, &creds, &redirect_uri, &code, verifier.as_deref(), before).await.unwrap();
    assert_eq!(first.token_type, "bearer");
    let expires = first.expires_at.unwrap();
    assert!((before + 55_000..=now() + 60_000).contains(&expires), "expires in the client's 60 s: {expires}");
    let mut granted = first.granted_scopes.clone().unwrap();
    granted.sort();
    assert_eq!(granted, ["read:user", "repo"]);
    let first_refresh = first.refresh_token.clone().expect("a refresh token");
    assert!(!format!("{first:?}").contains(first.access_token.as_str()), "tokens stay out of Debug");
    assert!(!format!("{first:?}").contains(first_refresh.as_str()));

    // The account behind the token.
    let (id, label) = client::account(&http, &p, &first.access_token).await.unwrap().unwrap();
    assert_eq!((id.as_str(), label), (sub.as_str(), format!("{sub}@example.com")));

    // A refresh rotates the refresh token, counted once at the provider.
    let second = client::refresh(&http, &p, &creds, &first_refresh, now()).await.unwrap();
    let second_refresh = second.refresh_token.clone().expect("a rotated refresh token");
    assert_ne!(second_refresh.as_str(), first_refresh.as_str());
    assert_ne!(second.access_token.as_str(), first.access_token.as_str());
    assert_eq!(idp().stats(&creds.client_id).await.refresh_grants, 1);

    // Reusing the rotated one: the provider ends the whole grant, and both
    // are refused as invalid_grant (a connection then needs its person).
    let reused = client::refresh(&http, &p, &creds, &first_refresh, now()).await;
    assert!(matches!(reused, Err(TokenError::InvalidGrant(_))), "{reused:?}");
    let after = client::refresh(&http, &p, &creds, &second_refresh, now()).await;
    assert!(matches!(after, Err(TokenError::InvalidGrant(_))), "{after:?}");
    assert!(client::account(&http, &p, &second.access_token).await.is_err(), "the grant's access token is gone too");
}

#[tokio::test]
async fn revocation_ends_the_grant_and_a_provider_without_it_says_so() {
    let (p, creds, redirect_uri, _sub) = provider(60).await;
    let http = client::http_client();
    let (code, verifier) = authorize(&p, &creds, &redirect_uri).await;
    let t = client::exchange(&http, &p, &creds, &redirect_uri, &code, verifier.as_deref(), now()).await.unwrap();
    let refresh = t.refresh_token.clone().unwrap();
    assert!(client::revoke(&http, &p, &creds, &t.access_token, Some(&refresh)).await.unwrap());
    let refused = client::refresh(&http, &p, &creds, &refresh, now()).await;
    assert!(matches!(refused, Err(TokenError::InvalidGrant(_))), "{refused:?}");

    let without = OAuthProviderConfig { revocation_url: None, ..p.clone() };
    assert!(!client::revoke(&http, &without, &creds, "unused", None).await.unwrap());

    // The provider revoking the grant on its side: the next refresh is invalid_grant.
    let (code, verifier) = authorize(&p, &creds, &redirect_uri).await;
    let t = client::exchange(&http, &p, &creds, &redirect_uri, &code, verifier.as_deref(), now()).await.unwrap();
    let sub = client::account(&http, &p, &t.access_token).await.unwrap().unwrap().0;
    assert!(idp().revoke_grant(&sub, &creds.client_id).await >= 1);
    let refused = client::refresh(&http, &p, &creds, t.refresh_token.as_deref().unwrap(), now()).await;
    assert!(matches!(refused, Err(TokenError::InvalidGrant(_))), "{refused:?}");

    // A code is used once.
    let (code, verifier) = authorize(&p, &creds, &redirect_uri).await;
    client::exchange(&http, &p, &creds, &redirect_uri, &code, verifier.as_deref(), now()).await.unwrap();
    let again = client::exchange(&http, &p, &creds, &redirect_uri, &code, verifier.as_deref(), now()).await;
    assert!(matches!(again, Err(TokenError::InvalidGrant(_))), "{again:?}");

    // Wrong client credentials are not invalid_grant: the connection is not to blame.
    let wrong = Credentials { client_secret: ClientSecret::new("not-the-secret"), ..creds.clone() };
    let (code, verifier) = authorize(&p, &creds, &redirect_uri).await;
    let refused = client::exchange(&http, &p, &wrong, &redirect_uri, &code, verifier.as_deref(), now()).await;
    assert!(matches!(refused, Err(TokenError::Other(_))), "{refused:?}");
}
