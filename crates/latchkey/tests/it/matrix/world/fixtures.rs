//! The world's records made outside the API's own create calls: written
//! to the database (an identity, a connection, a device approval: linking
//! and connecting through a provider are other tests' business) or through
//! the dashboard (a CLI code).

use serde_json::json;

use super::{Actor, World};

impl World {
    /// An identity at an identity provider, linked to `actor`'s account
    /// (who has a password, so it may be unlinked). Written to the database:
    /// linking one through a provider is `sso.rs`'s business.
    pub(super) async fn fresh_identity(&mut self, actor: Actor) -> String {
        let n = self.fresh("");
        let id =
            format!("idn_{:0>26}", n.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase());
        let user = self.own(actor).person.user_id.clone();
        let sql = format!(
            "INSERT INTO user_identities (id, user_id, provider, issuer, subject, created_at) \
             VALUES ('{id}', '{user}', 'corp', 'http://127.0.0.1:9', 'matrix-{n}', 0)"
        );
        assert_eq!(crate::db::Db::connect(&self.server).await.exec(&sql).await, 1);
        self.tenant.push(id.clone());
        id
    }

    /// A connection of `actor` to `octo` (not the default). Written to the
    /// database: connecting through a provider is `oauth/`'s business; the
    /// provider has no revocation endpoint, so nothing opens its tokens.
    pub(super) async fn fresh_connection(&mut self, actor: Actor) -> String {
        let n = self.fresh("");
        let id =
            format!("ocn_{:0>26}", n.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_lowercase());
        let (org, user) = (self.org.clone(), self.own(actor).person.user_id.clone());
        let sql = format!(
            "INSERT INTO oauth_connections (id, org_id, owner_user_id, provider, account_id, account_label, \
             requested_scopes, granted_scopes, access_token_sealed, token_type, status, version, created_at, \
             updated_at) VALUES ('{id}', '{org}', '{user}', 'octo', 'matrix-{n}', 'matrix-{n}', 'repo', 'repo', $1, \
             'bearer', 'active', 1, 0, 0)"
        );
        assert_eq!(crate::db::Db::connect(&self.server).await.exec_bytes(&sql, b"sealed").await, 1);
        self.tenant.push(id.clone());
        id
    }

    /// A one-time CLI code the host authorized on the dashboard's
    /// authorization page (the host's session as its cookie), for
    /// `redirect_uri` and the PKCE challenge of [`CLI_VERIFIER`]: the
    /// exchange answers the host's session, which names nothing of
    /// organization A (the leak check).
    pub(super) async fn fresh_cli_code(&mut self, redirect_uri: &str) -> String {
        let state = self.fresh("st");
        let query = [
            ("redirect_uri", redirect_uri),
            ("state", state.as_str()),
            ("code_challenge", CLI_CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let cookie = format!("latchkey_session={}", self.host.token);
        let page_url = format!("{}/dashboard/cli/authorize", self.server.url);
        let page = http.get(&page_url).query(&query).header("cookie", &cookie).send().await.unwrap();
        let html = page.text().await.unwrap();
        let csrf = crate::cli_login::csrf_of(&html);
        let mut form: Vec<(&str, &str)> = query.to_vec();
        form.extend([("csrf", csrf.as_str()), ("decision", "authorize")]);
        let r = http.post(&page_url).form(&form).header("cookie", &cookie).send().await.unwrap();
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let to = reqwest::Url::parse(&to).unwrap();
        to.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).unwrap()
    }

    /// A device code the host approved (written to the database: the
    /// dashboard's approval is `cli_login.rs`' business); polling it answers
    /// the host's session.
    pub(super) async fn fresh_approved_device(&mut self) -> String {
        let r = self.server.anonymous().post("/v1/auth/device/code", json!({"clientName": "matrix"})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let device_code = r.body["data"]["deviceCode"].as_str().unwrap().to_owned();
        let sql = format!(
            "UPDATE auth_requests SET decision = 'approved', user_id = '{}', org_id = '{}' \
             WHERE kind = 'device' AND decision IS NULL",
            self.host.user_id, self.host.org_id
        );
        // Every undecided one (the ones `startDeviceAuthorization` left too).
        assert!(crate::db::Db::connect(&self.server).await.exec(&sql).await >= 1);
        device_code
    }
}

/// The PKCE pair of the CLI codes the matrix exchanges (RFC 7636's example).
pub(super) const CLI_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(super) const CLI_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
