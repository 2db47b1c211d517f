//! The test IdP as a GitHub-like OAuth 2.0 provider (issue 23), driven
//! with no latchkey: a code flow without `openid` (scopes `repo read:user`,
//! PKCE, state, `iss`), the account at `/user`, refresh with rotation, reuse
//! of a rotated refresh token revoking the grant, the revocation endpoint,
//! the revoke-grant, stats and tokens controls, and short access token lifetimes.

use super::self_tests::{random_b64, redirect_sink};
use super::*;

use base64ct::{Base64UrlUnpadded, Encoding as _};
use sha2::{Digest as _, Sha256};

/// A GitHub-like client of the IdP registered for one test.
struct App {
    id: String,
    secret: String,
    redirect_uri: String,
    endpoints: OAuthEndpoints,
}

/// A user of the IdP for one test; returns its sub.
async fn person() -> String {
    let sub = unique_sub("oauth-user");
    let email = format!("{sub}@example.com");
    idp()
        .add_user(IdpUser {
            sub: &sub,
            email: &email,
            email_verified: true,
            name: "Grace Hopper",
            ..IdpUser::default()
        })
        .await;
    sub
}

/// A refresh-token client whose access tokens live `ttl` (or an hour).
async fn app(ttl: Option<Duration>) -> App {
    let idp = idp();
    let app = App {
        id: unique_sub("app"),
        secret: random_b64(24),
        redirect_uri: redirect_sink(),
        endpoints: idp.oauth_endpoints(),
    };
    idp.register_oauth_client(&app.id, &app.secret, &[&app.redirect_uri], ttl).await;
    app
}

/// A token endpoint answer's field as text.
fn text<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name].as_str().unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// `GET /user` with `access_token`: the status, the body and the
/// `WWW-Authenticate` header.
async fn account(access_token: &str) -> (StatusCode, Value, String) {
    let res = reqwest::Client::new().get(&idp().oauth_endpoints().user).bearer_auth(access_token).send().await.unwrap();
    let status = res.status();
    let challenge = res
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, res.json().await.unwrap(), challenge)
}

impl App {
    /// Sends `sub` through the authorization endpoint with `scope`
    /// (no `openid` unless it says so, no nonce); returns the code verifier
    /// and the query the browser came back with (its state checked).
    async fn authorize(&self, sub: &str, scope: &str) -> (String, HashMap<String, String>) {
        let (state, verifier) = (random_b64(16), random_b64(32));
        let challenge = Base64UrlUnpadded::encode_string(&Sha256::digest(verifier.as_bytes()));
        let mut url = Url::parse(&self.endpoints.authorize).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("login_hint", sub);
        let nav = Browser::new().get(url.as_str()).await;
        let back = nav.visited.last().unwrap();
        assert!(
            back.as_str().starts_with(&self.redirect_uri),
            "not sent back to the client: {:?}\n{}",
            nav.visited,
            idp().log_tail()
        );
        let q = query_of(back);
        assert_eq!(q.get("state"), Some(&state), "{q:?}");
        (verifier, q)
    }

    /// `POST /token` with client_secret_basic.
    async fn token(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let res = reqwest::Client::new()
            .post(&self.endpoints.token)
            .basic_auth(&self.id, Some(&self.secret))
            .form(form)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap())
    }

    /// A whole code flow for `sub` with `scope`: the token endpoint's answer.
    async fn connect(&self, sub: &str, scope: &str) -> Value {
        let (verifier, q) = self.authorize(sub, scope).await;
        let code = q.get("code").unwrap_or_else(|| panic!("no code: {q:?}\n{}", idp().log_tail()));
        let (status, tokens) = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("code_verifier", &verifier),
            ])
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}\n{}", idp().log_tail());
        tokens
    }

    /// The refresh token grant with `refresh_token`.
    async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        self.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await
    }

    /// `POST /token/revocation` (RFC 7009) with client_secret_basic.
    async fn revoke(&self, token: &str, hint: &str) -> StatusCode {
        reqwest::Client::new()
            .post(&self.endpoints.revocation)
            .basic_auth(&self.id, Some(&self.secret))
            .form(&[("token", token), ("token_type_hint", hint)])
            .send()
            .await
            .unwrap()
            .status()
    }
}

/// A refused refresh: 400 `invalid_grant`.
fn assert_invalid_grant((status, body): (StatusCode, Value)) {
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
}

#[tokio::test]
async fn the_test_idp_completes_a_github_like_code_flow_without_openid() {
    let idp = idp();
    let discovery: Value =
        reqwest::get(format!("{}/.well-known/openid-configuration", idp.issuer)).await.unwrap().json().await.unwrap();
    let endpoints = idp.oauth_endpoints();
    assert_eq!(discovery["authorization_endpoint"], endpoints.authorize.as_str(), "{discovery}");
    assert_eq!(discovery["token_endpoint"], endpoints.token.as_str(), "{discovery}");
    assert_eq!(discovery["revocation_endpoint"], endpoints.revocation.as_str(), "{discovery}");
    for scope in OAUTH_SCOPES.split(' ').chain(["openid", "email", "profile"]) {
        assert!(discovery["scopes_supported"].as_array().unwrap().contains(&json!(scope)), "{scope}: {discovery}");
    }

    let app = app(None).await;
    let sub = person().await;
    let (verifier, q) = app.authorize(&sub, OAUTH_SCOPES).await;
    assert_eq!(q.get("iss"), Some(&idp.issuer), "{q:?}");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", app.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, tokens) = app.token(&form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer", "{tokens}");
    assert_eq!(tokens["scope"], OAUTH_SCOPES, "{tokens}");
    assert_eq!(tokens["expires_in"], 3600, "{tokens}");
    assert!(tokens.get("id_token").is_none(), "an ID token without openid: {tokens}");
    let (access, refresh) = (text(&tokens, "access_token"), text(&tokens, "refresh_token"));
    assert!(access.len() >= 32 && refresh.len() >= 32 && access != refresh, "{tokens}");

    // The account behind the token, GitHub-like.
    let (status, me, _) = account(access).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me,
        json!({"sub": sub, "preferred_username": format!("{sub}@example.com"), "name": "Grace Hopper", "email": format!("{sub}@example.com")})
    );
    // oidc-provider's own userinfo serves only tokens granted openid.
    let res = reqwest::Client::new().get(format!("{}/me", idp.issuer)).bearer_auth(access).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "insufficient_scope");

    // The code is single use (PKCE and the rest as for sign-ins).
    assert_invalid_grant(app.token(&form).await);

    // With openid, the same client gets an ID token too, and /me has the label.
    let tokens = app.connect(&sub, &format!("openid profile {OAUTH_SCOPES}")).await;
    assert!(tokens["id_token"].is_string(), "{tokens}");
    let info: Value = reqwest::Client::new()
        .get(format!("{}/me", idp.issuer))
        .bearer_auth(text(&tokens, "access_token"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["preferred_username"], format!("{sub}@example.com"), "{info}");
    assert_eq!(info["sub"], sub.as_str(), "{info}");
}

#[tokio::test]
async fn the_test_idp_user_endpoint_wants_a_live_token_with_read_user() {
    let app = app(None).await;
    let sub = person().await;
    let tokens = app.connect(&sub, "repo").await;
    assert_eq!(tokens["scope"], "repo", "{tokens}");
    let (status, body, challenge) = account(text(&tokens, "access_token")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::FORBIDDEN, Some("insufficient_scope")), "{body}");
    assert!(challenge.contains(r#"scope="read:user""#), "{challenge}");

    let (status, body, challenge) = account(&random_b64(32)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")), "{body}");
    assert!(challenge.starts_with("Bearer "), "{challenge}");

    let res = reqwest::get(&app.endpoints.user).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().contains_key(reqwest::header::WWW_AUTHENTICATE));
}

#[tokio::test]
async fn the_test_idp_rotates_refresh_tokens_and_counts_refreshes() {
    let idp = idp();
    let (app, other) = (app(None).await, app(None).await);
    let sub = person().await;
    let tokens = app.connect(&sub, OAUTH_SCOPES).await;
    let none = IdpStats { refresh_grants: 0, refresh_grant_errors: 0 };
    assert_eq!(idp.stats(&app.id).await, none);

    let mut refresh = text(&tokens, "refresh_token").to_owned();
    let mut access = text(&tokens, "access_token").to_owned();
    for n in 1..=3 {
        let (status, fresh) = app.refresh(&refresh).await;
        assert_eq!(status, StatusCode::OK, "{fresh}\n{}", idp.log_tail());
        assert_eq!(fresh["scope"], OAUTH_SCOPES, "{fresh}");
        assert_eq!(fresh["expires_in"], 3600, "{fresh}");
        let (new_access, new_refresh) = (text(&fresh, "access_token"), text(&fresh, "refresh_token"));
        assert_ne!(new_refresh, refresh, "the refresh token was not rotated");
        assert_ne!(new_access, access);
        let (status, me, _) = account(new_access).await;
        assert_eq!((status, me["sub"].as_str()), (StatusCode::OK, Some(sub.as_str())), "{me}");
        (refresh, access) = (new_refresh.to_owned(), new_access.to_owned());
        assert_eq!(idp.stats(&app.id).await, IdpStats { refresh_grants: n, refresh_grant_errors: 0 });
    }
    // Every token issued to the client is listed, in order; none of another's.
    let issued = idp.issued_tokens(&app.id).await;
    assert_eq!(issued.len(), 8, "a code and three refreshes, two tokens each: {issued:?}");
    assert_eq!(issued[0], text(&tokens, "access_token"));
    assert_eq!(issued[1], text(&tokens, "refresh_token"));
    assert_eq!(issued[6..], [access.clone(), refresh.clone()]);
    assert!(idp.issued_tokens(&other.id).await.is_empty());
    // Another client's count is its own; a code exchange is no refresh.
    assert_eq!(idp.stats(&other.id).await, none);
    other.connect(&sub, OAUTH_SCOPES).await;
    assert_eq!(idp.stats(&other.id).await, none);
    // Refused refreshes count too: a token of another client.
    assert_invalid_grant(other.refresh(&refresh).await);
    assert_eq!(idp.stats(&other.id).await, IdpStats { refresh_grants: 1, refresh_grant_errors: 1 });
    // … which did not disturb the grant it belongs to.
    let (status, fresh) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
}

#[tokio::test]
async fn the_test_idp_token_outage_answers_503_to_that_client_only_until_it_ends() {
    let idp = idp();
    let (app, other) = (app(None).await, app(None).await);
    let sub = person().await;
    let tokens = app.connect(&sub, OAUTH_SCOPES).await;
    let other_tokens = other.connect(&sub, OAUTH_SCOPES).await;
    let refresh = text(&tokens, "refresh_token").to_owned();

    idp.token_outage(&app.id, 60).await;
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    // Refused before it was read: not counted, and the refresh token is
    // not used up.
    assert_eq!(idp.stats(&app.id).await, IdpStats { refresh_grants: 0, refresh_grant_errors: 0 });
    // Another client is not in the outage.
    let (status, body) = other.refresh(text(&other_tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    idp.token_outage(&app.id, 0).await;
    let (status, body) = app.refresh(&refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(idp.stats(&app.id).await, IdpStats { refresh_grants: 1, refresh_grant_errors: 0 });
}

#[tokio::test]
async fn the_test_idp_revokes_the_grant_when_a_rotated_refresh_token_is_reused() {
    let idp = idp();
    let app = app(None).await;
    let sub = person().await;
    let tokens = app.connect(&sub, OAUTH_SCOPES).await;
    let first = text(&tokens, "refresh_token");
    let (status, fresh) = app.refresh(first).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let (second, access) = (text(&fresh, "refresh_token"), text(&fresh, "access_token"));
    assert_eq!(account(access).await.0, StatusCode::OK);

    // The rotated token again: refused, and the whole grant goes with it.
    assert_invalid_grant(app.refresh(first).await);
    // The IdP's stderr is read by another thread: its line may come a
    // moment after the answer.
    let logged = crate::common::eventually(Duration::from_secs(5), || {
        let logged = idp.log_tail().contains("refresh token already used");
        async move { logged }
    })
    .await;
    assert!(logged, "{}", idp.log_tail());
    assert_invalid_grant(app.refresh(second).await);
    assert_eq!(account(access).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(idp.stats(&app.id).await, IdpStats { refresh_grants: 3, refresh_grant_errors: 2 });

    // The person can connect again: a new grant that works.
    let tokens = app.connect(&sub, OAUTH_SCOPES).await;
    let (status, fresh) = app.refresh(text(&tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{fresh}\n{}", idp.log_tail());
}

#[tokio::test]
async fn the_test_idp_revocation_endpoint_ends_the_grant() {
    let app = app(None).await;
    let sub = person().await;

    // Revoking the refresh token ends its access tokens too.
    let tokens = app.connect(&sub, OAUTH_SCOPES).await;
    let (access, refresh) = (text(&tokens, "access_token"), text(&tokens, "refresh_token"));
    assert_eq!(app.revoke(refresh, "refresh_token").await, StatusCode::OK);
    assert_invalid_grant(app.refresh(refresh).await);
    assert_eq!(account(access).await.0, StatusCode::UNAUTHORIZED);
    // Revoking again, or a token the IdP never issued, is no error (RFC 7009).
    assert_eq!(app.revoke(refresh, "refresh_token").await, StatusCode::OK);
    assert_eq!(app.revoke(&random_b64(32), "access_token").await, StatusCode::OK);

    // Revoking the access token ends the refresh token too.
    let tokens = app.connect(&sub, OAUTH_SCOPES).await;
    let (access, refresh) = (text(&tokens, "access_token"), text(&tokens, "refresh_token"));
    assert_eq!(app.revoke(access, "access_token").await, StatusCode::OK);
    assert_eq!(account(access).await.0, StatusCode::UNAUTHORIZED);
    assert_invalid_grant(app.refresh(refresh).await);

    // Only the client itself, authenticated, may revoke.
    let tokens = app.connect(&sub, OAUTH_SCOPES).await;
    let refresh = text(&tokens, "refresh_token");
    let res = reqwest::Client::new()
        .post(&app.endpoints.revocation)
        .basic_auth(&app.id, Some("not-the-secret"))
        .form(&[("token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (status, fresh) = app.refresh(refresh).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
}

#[tokio::test]
async fn the_test_idp_revoke_grant_control_ends_a_persons_grant() {
    let idp = idp();
    let app = app(None).await;
    let (ada, bob) = (person().await, person().await);
    let ada_tokens = app.connect(&ada, OAUTH_SCOPES).await;
    let bob_tokens = app.connect(&bob, OAUTH_SCOPES).await;

    assert_eq!(idp.revoke_grant(&ada, &app.id).await, 1);
    assert_invalid_grant(app.refresh(text(&ada_tokens, "refresh_token")).await);
    assert_eq!(account(text(&ada_tokens, "access_token")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(idp.revoke_grant(&ada, &app.id).await, 0, "nothing left to revoke");

    // Another person's grant to the same client is untouched.
    assert_eq!(account(text(&bob_tokens, "access_token")).await.0, StatusCode::OK);
    let (status, fresh) = app.refresh(text(&bob_tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
}

#[tokio::test]
async fn the_test_idp_honours_a_short_access_token_lifetime() {
    let app = app(Some(Duration::from_secs(2))).await;
    let sub = person().await;
    let tokens = app.connect(&sub, OAUTH_SCOPES).await;
    assert_eq!(tokens["expires_in"], 2, "{tokens}");
    let access = text(&tokens, "access_token");
    assert_eq!(account(access).await.0, StatusCode::OK);

    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (status, body, _) = account(access).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")), "{body}");
    // The refresh token outlives it, and gives another short-lived one.
    let (status, fresh) = app.refresh(text(&tokens, "refresh_token")).await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    assert_eq!(fresh["expires_in"], 2, "{fresh}");
    assert_eq!(account(text(&fresh, "access_token")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_test_idp_gives_a_sign_in_client_no_refresh_token() {
    // A client registered as for sign-ins: authorization_code only.
    let idp = idp();
    let app = App {
        id: unique_sub("signin-app"),
        secret: random_b64(24),
        redirect_uri: redirect_sink(),
        endpoints: idp.oauth_endpoints(),
    };
    idp.register_client(&app.id, &app.secret, &[&app.redirect_uri]).await;
    let sub = person().await;
    let tokens = app.connect(&sub, &format!("openid {OAUTH_SCOPES}")).await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert_eq!(tokens["expires_in"], 3600, "{tokens}");
    // oidc-provider answers invalid_request here (RFC 6749 has unauthorized_client).
    let (status, body) = app.refresh(&random_b64(32)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
    assert_eq!(body["error_description"], "requested grant type is not allowed for this client", "{body}");
}

#[tokio::test]
async fn the_test_idp_refuses_bad_oauth_client_registrations() {
    let idp = idp();
    let register = |extra: Value| async move {
        let mut body =
            json!({"client_id": unique_sub("bad"), "client_secret": "s", "redirect_uris": [redirect_sink()]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let res =
            reqwest::Client::new().post(format!("{}/__test/clients", idp.issuer)).json(&body).send().await.unwrap();
        (res.status(), res.text().await.unwrap())
    };
    for extra in [
        json!({"grant_types": ["refresh_token"]}),
        json!({"grant_types": ["authorization_code", "client_credentials"]}),
        json!({"grant_types": "authorization_code"}),
        json!({"access_token_ttl": 0}),
        json!({"access_token_ttl": 1.5}),
        json!({"access_token_ttl": "2"}),
    ] {
        let (status, text) = register(extra.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra}: {text}");
    }
    let (status, text) =
        register(json!({"grant_types": ["authorization_code", "refresh_token"], "access_token_ttl": 5})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");

    let res = reqwest::get(format!("{}/__test/stats", idp.issuer)).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = reqwest::Client::new()
        .post(format!("{}/__test/revoke-grant", idp.issuer))
        .json(&json!({"sub": "someone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}
