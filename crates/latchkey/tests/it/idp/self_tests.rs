//! The test IdP's own tests: it does what latchkey's sign-in tests rely on
//! (a code flow with PKCE, state, nonce and `iss`; the claims in the ID
//! token, signed by the key at its jwks_uri; the default and hinted users;
//! every tamper mode; `deny`), driven with [`Browser`] and no latchkey: the
//! client is a loopback listener that answers anything with 200.

use super::*;

use base64ct::{Base64UrlUnpadded, Encoding as _};
use sha2::{Digest as _, Sha256};

/// A loopback "client" whose redirect URI answers 200 to anything (a
/// thread of its own, for the life of the test binary).
pub(super) fn redirect_sink() -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut socket in listener.incoming().map_while(Result::ok) {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\ncallback");
        }
    });
    format!("http://{addr}/callback")
}

pub(super) fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).unwrap();
    Base64UrlUnpadded::encode_string(&buf)
}

/// A client of the IdP registered for one test, with its redirect sink.
struct Rp {
    id: String,
    secret: String,
    redirect_uri: String,
    discovery: Value,
}

/// One authorization request's secrets.
struct Request {
    state: String,
    nonce: String,
    verifier: String,
}

async fn rp() -> Rp {
    let idp = idp();
    let id = unique_sub("client");
    let secret = random_b64(24);
    let redirect_uri = redirect_sink();
    idp.register_client(&id, &secret, &[&redirect_uri]).await;
    let discovery: Value =
        reqwest::get(format!("{}/.well-known/openid-configuration", idp.issuer)).await.unwrap().json().await.unwrap();
    Rp { id, secret, redirect_uri, discovery }
}

async fn user(tamper: Option<&str>, deny: bool) -> String {
    let sub = unique_sub("user");
    let email = format!("{sub}@example.com");
    idp()
        .add_user(IdpUser { sub: &sub, email: &email, email_verified: true, name: "Ada Lovelace", tamper, deny })
        .await;
    sub
}

impl Rp {
    fn endpoint(&self, name: &str) -> &str {
        self.discovery[name].as_str().unwrap()
    }

    /// Runs an authorization request through the IdP; returns the
    /// secrets it used and where the browser was sent back to.
    async fn authorize(&self, browser: &Browser, login_hint: Option<&str>, pkce: bool) -> (Request, Navigation) {
        let req = Request { state: random_b64(16), nonce: random_b64(16), verifier: random_b64(32) };
        let challenge = Base64UrlUnpadded::encode_string(&Sha256::digest(req.verifier.as_bytes()));
        let mut url = Url::parse(self.endpoint("authorization_endpoint")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", "openid email profile")
            .append_pair("state", &req.state)
            .append_pair("nonce", &req.nonce);
        if pkce {
            url.query_pairs_mut()
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
        }
        if let Some(hint) = login_hint {
            url.query_pairs_mut().append_pair("login_hint", hint);
        }
        let nav = browser.get(url.as_str()).await;
        assert_eq!(nav.response.status(), StatusCode::OK, "visited {:?}\n{}", nav.visited, idp().log_tail());
        let back = nav.visited.last().unwrap();
        assert!(
            back.as_str().starts_with(&self.redirect_uri),
            "not sent back to the client: {:?}\n{}",
            nav.visited,
            idp().log_tail()
        );
        (req, nav)
    }

    /// Exchanges `code` at the token endpoint with client_secret_basic.
    async fn exchange(&self, code: &str, verifier: &str) -> (StatusCode, Value) {
        let res = reqwest::Client::new()
            .post(self.endpoint("token_endpoint"))
            .basic_auth(&self.id, Some(&self.secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap())
    }

    /// A whole sign-in of `sub`: the ID token's header, claims and
    /// whether its signature verifies with the IdP's published key.
    async fn sign_in(&self, sub: &str) -> (Request, Jwt) {
        let (req, nav) = self.authorize(&Browser::new(), Some(sub), true).await;
        let q = query_of(nav.visited.last().unwrap());
        assert_eq!(q.get("state"), Some(&req.state));
        let (status, tokens) = self.exchange(&q["code"], &req.verifier).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let jwt = Jwt::parse(tokens["id_token"].as_str().unwrap());
        (req, jwt)
    }

    /// Whether `jwt` is signed by the IdP's key of its `kid`.
    async fn verifies(&self, jwt: &Jwt) -> bool {
        let jwks: Value = reqwest::get(self.endpoint("jwks_uri")).await.unwrap().json().await.unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{jwks}");
        let key = &keys[0];
        assert_eq!(key["kid"], jwt.header["kid"], "{jwks}");
        assert!(key.get("d").is_none(), "the JWKS publishes a private key: {jwks}");
        let n = Base64UrlUnpadded::decode_vec(key["n"].as_str().unwrap()).unwrap();
        let e = Base64UrlUnpadded::decode_vec(key["e"].as_str().unwrap()).unwrap();
        ring::signature::RsaPublicKeyComponents { n, e }
            .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, jwt.signing_input.as_bytes(), &jwt.signature)
            .is_ok()
    }
}

/// A compact JWS, decoded (the signature is checked by [`Rp::verifies`]).
struct Jwt {
    header: Value,
    claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jwt {
    fn parse(token: &str) -> Self {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "not a compact JWS: {token}");
        let json = |part: &str| serde_json::from_slice(&Base64UrlUnpadded::decode_vec(part).unwrap()).unwrap();
        Self {
            header: json(parts[0]),
            claims: json(parts[1]),
            signing_input: format!("{}.{}", parts[0], parts[1]),
            signature: Base64UrlUnpadded::decode_vec(parts[2]).unwrap(),
        }
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().try_into().unwrap()
}

/// The claims every ID token of `sub` from `rp` carries, untampered.
fn assert_genuine_claims(rp: &Rp, req: &Request, sub: &str, claims: &Value) {
    assert_eq!(claims["sub"], sub, "{claims}");
    assert_eq!(claims["email"], format!("{sub}@example.com"), "{claims}");
    assert_eq!(claims["email_verified"], true, "{claims}");
    assert_eq!(claims["name"], "Ada Lovelace", "{claims}");
    assert_eq!(claims["iss"], idp().issuer.as_str(), "{claims}");
    assert_eq!(claims["aud"], rp.id.as_str(), "{claims}");
    assert_eq!(claims["nonce"], req.nonce.as_str(), "{claims}");
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert!((now() - iat).abs() < 120 && exp > now(), "{claims}");
}

#[tokio::test]
async fn the_test_idp_completes_a_code_flow_with_pkce() {
    let idp = idp();
    let rp = rp().await;
    assert_eq!(rp.discovery["issuer"], idp.issuer.as_str());
    assert_eq!(rp.discovery["authorization_response_iss_parameter_supported"], true);
    assert_eq!(rp.discovery["code_challenge_methods_supported"], json!(["S256"]));
    let sub = user(None, false).await;

    let browser = Browser::new();
    let (req, nav) = rp.authorize(&browser, Some(&sub), true).await;
    // authorize → interaction → resume → the client's redirect URI.
    let paths: Vec<&str> = nav.visited.iter().map(Url::path).collect();
    assert_eq!(paths[0], "/auth", "{:?}", nav.visited);
    assert!(paths[1].starts_with("/interaction/"), "{:?}", nav.visited);
    assert!(paths[2].starts_with("/auth/"), "{:?}", nav.visited);
    assert_eq!(nav.visited.len(), 4, "{:?}", nav.visited);
    assert_eq!(nav.response.text().await.unwrap(), "callback");
    let q = query_of(nav.visited.last().unwrap());
    assert_eq!(q.get("state"), Some(&req.state), "{q:?}");
    assert_eq!(q.get("iss"), Some(&idp.issuer), "{q:?}");
    let code = q.get("code").unwrap_or_else(|| panic!("no code: {q:?}"));

    // A wrong code_verifier is refused (PKCE is checked) …
    let (status, body) = rp.exchange(code, &random_b64(32)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");

    // … so a second authorization, exchanged with client_secret_post and the right verifier.
    let (req, nav) = rp.authorize(&browser, Some(&sub), true).await;
    let q = query_of(nav.visited.last().unwrap());
    let form = [
        ("grant_type", "authorization_code"),
        ("code", q["code"].as_str()),
        ("redirect_uri", rp.redirect_uri.as_str()),
        ("code_verifier", req.verifier.as_str()),
        ("client_id", rp.id.as_str()),
        ("client_secret", rp.secret.as_str()),
    ];
    let tokens = browser.post_form(rp.endpoint("token_endpoint"), &form).await;
    assert_eq!(tokens.response.status(), StatusCode::OK);
    let tokens: Value = tokens.response.json().await.unwrap();
    let jwt = Jwt::parse(tokens["id_token"].as_str().unwrap());
    assert_eq!(jwt.header["alg"], "RS256", "{}", jwt.header);
    assert_genuine_claims(&rp, &req, &sub, &jwt.claims);
    assert!(rp.verifies(&jwt).await, "the genuine ID token does not verify");

    // Userinfo serves the same claims.
    let userinfo = || async {
        browser
            .client()
            .get(rp.endpoint("userinfo_endpoint"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
    };
    let info: Value = userinfo().await.json().await.unwrap();
    assert_eq!(info["email"], format!("{sub}@example.com"), "{info}");
    assert_eq!(info["sub"], sub.as_str(), "{info}");

    // The code is single use, and replaying it revokes what it gave.
    let (status, body) = rp.exchange(&q["code"], &req.verifier).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    assert_eq!(userinfo().await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_test_idp_requires_pkce_and_a_known_user() {
    let rp = rp().await;
    let sub = user(None, false).await;
    let browser = Browser::new();

    let (req, nav) = rp.authorize(&browser, Some(&sub), false).await;
    let q = query_of(nav.visited.last().unwrap());
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"), "{q:?}");
    assert_eq!(q.get("state"), Some(&req.state), "{q:?}");
    assert!(!q.contains_key("code"), "{q:?}");

    let (_, nav) = rp.authorize(&browser, Some(&unique_sub("nobody")), true).await;
    let q = query_of(nav.visited.last().unwrap());
    assert_eq!(q.get("error").map(String::as_str), Some("login_required"), "{q:?}");
    assert!(!q.contains_key("code"), "{q:?}");
}

#[tokio::test]
async fn the_test_idp_signs_in_the_default_user_without_a_login_hint() {
    let idp = idp();
    let (rp, other) = (rp().await, rp().await);
    let (mine, global) = (user(None, false).await, user(None, false).await);
    idp.set_default_user_for(&rp.id, &mine).await;
    idp.set_default_user(&global).await;

    let (req, nav) = rp.authorize(&Browser::new(), None, true).await;
    let q = query_of(nav.visited.last().unwrap());
    let (_, tokens) = rp.exchange(&q["code"], &req.verifier).await;
    assert_eq!(Jwt::parse(tokens["id_token"].as_str().unwrap()).claims["sub"], mine.as_str());

    // A client without a default of its own gets the global one (no
    // other test sets it, so it is still `global`).
    let (req, nav) = other.authorize(&Browser::new(), None, true).await;
    let q = query_of(nav.visited.last().unwrap());
    let (_, tokens) = other.exchange(&q["code"], &req.verifier).await;
    assert_eq!(Jwt::parse(tokens["id_token"].as_str().unwrap()).claims["sub"], global.as_str());
}

#[tokio::test]
async fn the_test_idp_signs_in_the_hinted_user_in_a_browser_that_has_a_session() {
    let rp = rp().await;
    let (first, second) = (user(None, false).await, user(None, false).await);
    let browser = Browser::new();
    for sub in [&first, &second, &first] {
        let (req, nav) = rp.authorize(&browser, Some(sub), true).await;
        let q = query_of(nav.visited.last().unwrap());
        let (_, tokens) = rp.exchange(&q["code"], &req.verifier).await;
        assert_eq!(Jwt::parse(tokens["id_token"].as_str().unwrap()).claims["sub"], sub.as_str());
    }
}

#[tokio::test]
async fn the_test_idp_denies_for_a_user_who_refuses() {
    let idp = idp();
    let rp = rp().await;
    let sub = user(None, true).await;
    let (req, nav) = rp.authorize(&Browser::new(), Some(&sub), true).await;
    let q = query_of(nav.visited.last().unwrap());
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"), "{q:?}");
    assert_eq!(q.get("state"), Some(&req.state), "{q:?}");
    assert_eq!(q.get("iss"), Some(&idp.issuer), "{q:?}");
    assert!(!q.contains_key("code"), "{q:?}");
}

/// Signs in a user with `tamper`; returns the request and its ID token.
async fn tampered(tamper: &str) -> (Rp, Request, String, Jwt) {
    let rp = rp().await;
    let sub = user(Some(tamper), false).await;
    let (req, jwt) = rp.sign_in(&sub).await;
    (rp, req, sub, jwt)
}

/// `claims` are the genuine ones but for `key`, which is `value`.
fn assert_only_changed(rp: &Rp, req: &Request, sub: &str, claims: &Value, key: &str, value: &Value) {
    assert_eq!(&claims[key], value, "{claims}");
    let mut genuine = claims.clone();
    genuine[key] = match key {
        "aud" => json!(rp.id),
        "nonce" => json!(req.nonce),
        "iss" => json!(idp().issuer),
        _ => unreachable!(),
    };
    assert_genuine_claims(rp, req, sub, &genuine);
}

#[tokio::test]
async fn the_test_idp_can_sign_with_a_foreign_key_under_its_kid() {
    let (rp, req, sub, jwt) = tampered("foreign_key").await;
    assert_genuine_claims(&rp, &req, &sub, &jwt.claims);
    assert_eq!(jwt.header["alg"], "RS256");
    assert!(!rp.verifies(&jwt).await, "a foreign-key ID token verifies with the IdP's key");
}

#[tokio::test]
async fn the_test_idp_can_answer_for_another_audience() {
    let (rp, req, sub, jwt) = tampered("wrong_aud").await;
    assert_only_changed(&rp, &req, &sub, &jwt.claims, "aud", &json!("someone-else"));
    assert!(rp.verifies(&jwt).await);
}

#[tokio::test]
async fn the_test_idp_can_answer_with_another_nonce() {
    let (rp, req, sub, jwt) = tampered("wrong_nonce").await;
    assert_ne!(jwt.claims["nonce"], req.nonce.as_str());
    let nonce = jwt.claims["nonce"].clone();
    assert!(nonce.as_str().is_some_and(|n| n.len() >= 16), "{nonce}");
    assert_only_changed(&rp, &req, &sub, &jwt.claims, "nonce", &nonce);
    assert!(rp.verifies(&jwt).await);
}

#[tokio::test]
async fn the_test_idp_can_answer_with_an_expired_id_token() {
    let (rp, req, sub, jwt) = tampered("expired").await;
    let (iat, exp) = (jwt.claims["iat"].as_i64().unwrap(), jwt.claims["exp"].as_i64().unwrap());
    assert!((now() - 3600 - iat).abs() < 120 && (now() - 3600 - exp).abs() < 120, "{}", jwt.claims);
    let mut genuine = jwt.claims.clone();
    genuine["iat"] = json!(now());
    genuine["exp"] = json!(now() + 3600);
    assert_genuine_claims(&rp, &req, &sub, &genuine);
    assert!(rp.verifies(&jwt).await);
}

#[tokio::test]
async fn the_test_idp_can_answer_with_another_issuer_in_the_id_token() {
    let (rp, req, sub, jwt) = tampered("wrong_iss").await;
    assert_only_changed(&rp, &req, &sub, &jwt.claims, "iss", &json!("http://127.0.0.1:1/other"));
    assert!(rp.verifies(&jwt).await);
}

#[tokio::test]
async fn the_test_idp_can_answer_with_an_unsigned_id_token() {
    let (rp, req, sub, jwt) = tampered("alg_none").await;
    assert_eq!(jwt.header, json!({"alg": "none"}));
    assert!(jwt.signature.is_empty());
    assert_genuine_claims(&rp, &req, &sub, &jwt.claims);
}

#[tokio::test]
async fn the_test_idp_can_send_another_issuer_in_the_authorization_response() {
    let rp = rp().await;
    let sub = user(Some("iss_param"), false).await;
    let (req, nav) = rp.authorize(&Browser::new(), Some(&sub), true).await;
    let q = query_of(nav.visited.last().unwrap());
    assert_eq!(q.get("iss").map(String::as_str), Some("http://127.0.0.1:1/other"), "{q:?}");
    assert_eq!(q.get("state"), Some(&req.state), "{q:?}");
    // The rest of the answer is genuine: its code gives a genuine ID token.
    let (status, tokens) = rp.exchange(&q["code"], &req.verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let jwt = Jwt::parse(tokens["id_token"].as_str().unwrap());
    assert_genuine_claims(&rp, &req, &sub, &jwt.claims);
    assert!(rp.verifies(&jwt).await);
}
