//! Tokens and client secrets stay secret: every token the provider issued
//! to latchkey is absent from every answer of the API, the audit trail,
//! the server's log at `trace`, and the database's bytes (the SQLite files,
//! or every PostgreSQL row as text), where only ciphertext is.

use super::*;
use crate::db::Db;

#[tokio::test]
async fn tokens_and_client_secrets_appear_in_no_answer_log_or_stored_byte() {
    let o = OAuth::start_logging("trace").await;
    let (admin, ana) = (o.member("admin").await, o.member("member").await);
    let (own_client, own_secret) = (unique_sub("org-app"), unique_sub("org-secret"));
    idp().register_oauth_client(&own_client, &own_secret, &[&callback_of(&o.server)], None).await;
    assert_eq!(
        put_client(&admin.api, "bare", &json!({"clientId": own_client, "clientSecret": own_secret})).await.status,
        200
    );
    o.account_at(&o.octo_client).await;
    o.account_at(&o.plain_client).await;
    o.account_at(&own_client).await;
    let mut ids = vec![
        connect(&ana, "octo", Ask::default()).await,
        connect(&ana, "plain", Ask::default()).await,
        connect(&ana, "bare", Ask::default()).await,
        connect(&admin, "octo", Ask { scopes: None, shared: true }).await,
    ];
    // A reconnect replaces the tokens: the old ones must not linger either.
    ids.push(connect(&ana, "octo", Ask::default()).await);
    let (request, _) = started(&ana.api, "octo", Ask::default()).await;
    let tokens = o.issued_tokens(&[&own_client]).await;
    assert_eq!(tokens.len(), 10, "five code exchanges: {tokens:?}");

    // Every answer that shows connections, providers or requests.
    let mut seen = String::new();
    for (api, path) in [
        (&ana.api, "/v1/oauth/connections".to_owned()),
        (&admin.api, "/v1/oauth/connections?allOrg=true".to_owned()),
        (&ana.api, "/v1/oauth/providers".to_owned()),
        (&ana.api, format!("/v1/oauth/connect/{request}")),
        (&admin.api, "/v1/audit-events?limit=100".to_owned()),
    ] {
        let r = api.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        seen.push_str(&r.text);
    }
    for id in &ids[..3] {
        let r = ana.api.post_empty(&format!("/v1/oauth/connections/{id}/default")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        seen.push_str(&r.text);
    }
    assert!(seen.contains(&ids[0]) && seen.contains("oauth.connection.connect"), "the answers are real");
    let logs = o.server.logs();
    assert!(logs.contains("/v1/oauth/callback") && logs.contains("TRACE"), "the server logs at trace");
    let dump = Db::raw_dump(&o.server);
    let dump_text = String::from_utf8_lossy(&dump);
    assert!(dump_text.contains(&ids[0]), "the dump is the database");
    for (what, value) in
        tokens.iter().map(|t| ("a token", t.as_str())).chain([("the client secret", own_secret.as_str())])
    {
        assert!(!seen.contains(value), "{what} in an answer: {value}");
        assert!(!logs.contains(value), "{what} in the server log");
        assert!(!dump.windows(value.len()).any(|w| w == value.as_bytes()), "{what} in the database");
    }
    // What is stored instead: ciphertext, as long as the token and more.
    let db = Db::connect(&o.server).await;
    let sealed = db
        .bytes(
            &format!("SELECT access_token_sealed FROM oauth_connections WHERE id = '{}'", ids[0]),
            "access_token_sealed",
        )
        .await;
    assert!(sealed.len() > tokens[0].len(), "{} bytes", sealed.len());
    db.close().await;
}
