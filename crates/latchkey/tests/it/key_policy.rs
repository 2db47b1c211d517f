//! Organization key policies and IP rules (issue 27, points 1–2): each rule
//! on every path that mints or changes a key (native single, batch, rotate,
//! update, the Runloop and Runtype profiles, the CLI), the defaults, the
//! `compliant` listing, who may read and change a policy; and networks on
//! keys, decided before limits and credits through verify, latchkey's own
//! API and forward auth behind a real nginx.

use serde_json::{Value, json};

use crate::cli::User;
use crate::common::{Api, Resp, TestServer, ids, join_org, now_ms};
use crate::forward_auth_nginx::Nginx;

const DAY_MS: i64 = 86_400_000;

/// Asserts a 400 `policy_violation` naming `rule` in `error.rule` and in the message.
fn violation(r: &Resp, rule: &str, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.text);
    assert_eq!(r.body["error"]["code"], "policy_violation", "{what}: {}", r.text);
    assert_eq!(r.body["error"]["rule"], rule, "{what}: {}", r.text);
    assert!(r.body["error"]["message"].as_str().unwrap().contains(rule), "{what}: {}", r.text);
}

fn status(r: &Resp, want: u16, what: &str) {
    assert_eq!(r.status, want, "{what}: {}", r.text);
}

/// Ids of the organization's keys in `?compliant=…` order.
async fn listed(admin: &Api, compliant: bool) -> Vec<String> {
    let r = admin.get(&format!("/v1/api-keys?allOrg=true&compliant={compliant}&limit=2")).await;
    status(&r, 200, "compliant listing");
    let mut out = ids(&r, "id");
    let mut cursor = r.body["nextCursor"].as_str().map(str::to_owned);
    while let Some(c) = cursor {
        let r = admin.get(&format!("/v1/api-keys?allOrg=true&compliant={compliant}&limit=2&cursor={c}")).await;
        status(&r, 200, "compliant listing, next page");
        out.extend(ids(&r, "id"));
        cursor = r.body["nextCursor"].as_str().map(str::to_owned);
    }
    out
}

#[tokio::test]
async fn policy_rules_hold_on_every_path_that_mints_or_changes_a_key() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let org = server.admin.org_id.clone();
    let path = format!("/v1/orgs/{org}/key-policy");

    let r = admin.get(&path).await;
    status(&r, 200, "no policy yet");
    assert_eq!(r.body["data"]["requireExpiry"], false);
    assert!(r.body["data"]["maxLifetime"].is_null() && r.body["data"]["allowedCidrs"].is_null(), "{}", r.text);
    // A key made before the policy: `*`, live, no expiry.
    let (before, _) = TestServer::create_key(&admin, json!({"name": "before", "scopes": ["*"]})).await;

    // Who may read and change it: admins; members 403, another tenant 404.
    let bob = join_org(&server, &admin, &org, "bob@example.com", "member").await;
    let member = server.with_session_in_org(&bob.token, &org);
    for r in [member.get(&path).await, member.put(&path, json!({"requireExpiry": true})).await] {
        status(&r, 403, "member");
        assert_eq!(r.error_code(), "forbidden");
    }
    let other = server.with_key(&server.second_org("Other", "oz@example.com").api_key);
    for r in [other.get(&path).await, other.put(&path, json!({"requireExpiry": true})).await] {
        status(&r, 404, "another organization");
    }

    // Every field is validated; nothing is stored when one is wrong.
    let many: Vec<String> = (0..101).map(|i| format!("10.{i}.0.0/16")).collect();
    for (body, code) in [
        (json!({"maxLifetime": "90x"}), "invalid_request"),
        (json!({"allowedScopes": ["nope:x"]}), "invalid_scopes"),
        (json!({"allowedScopes": []}), "invalid_request"),
        (json!({"allowedCidrs": many}), "invalid_request"),
        (json!({"allowedCidrs": ["10.0.0.0/33"]}), "invalid_request"),
        (json!({"defaultRateLimitPerMinute": 0}), "invalid_request"),
        (json!({"requireExpiry": true, "surprise": 1}), "invalid_request"),
    ] {
        let r = admin.put(&path, body.clone()).await;
        status(&r, 400, &body.to_string());
        assert_eq!(r.error_code(), code, "{body}");
    }
    assert_eq!(admin.get(&path).await.body["data"]["requireExpiry"], false, "a refused PUT stored nothing");

    let policy = json!({
        "maxLifetime": "90d",
        "requireExpiry": true,
        "forbidWildcardInLive": true,
        "allowedScopes": ["sandbox:*", "agent:read", "org:read", "devboxes:read"],
        "defaultRateLimitPerMinute": 60,
        "defaultRateLimitPerDay": 5000,
        "allowedCidrs": ["127.0.0.0/8", "10.0.0.0/8"],
    });
    let r = admin.put(&path, policy.clone()).await;
    status(&r, 200, "put");
    assert_eq!(r.body["data"], policy);
    assert_eq!(admin.get(&path).await.body["data"], policy);
    let events = admin.get("/v1/audit-events?action=org.key_policy.update").await;
    assert_eq!(events.body["data"].as_array().unwrap().len(), 1, "audited once: {}", events.text);

    // Native single create: each rule, then a compliant key with the defaults.
    let create = |body: Value| admin.post("/v1/api-keys", body);
    violation(&create(json!({"name": "n", "scopes": ["sandbox:read"]})).await, "requireExpiry", "no expiry");
    violation(
        &create(json!({"name": "n", "scopes": ["sandbox:read"], "expiresIn": "1y"})).await,
        "maxLifetime",
        "a year",
    );
    violation(
        &create(json!({"name": "n", "scopes": ["*"], "expiresIn": "30d"})).await,
        "forbidWildcardInLive",
        "`*` in live",
    );
    violation(
        &create(json!({"name": "n", "scopes": ["agent:*"], "expiresIn": "30d", "isTest": true})).await,
        "allowedScopes",
        "agent:*",
    );
    violation(
        &create(json!({"name": "n", "scopes": ["sandbox:read"], "expiresIn": "30d", "allowedCidrs": ["192.0.2.0/24"]}))
            .await,
        "allowedCidrs",
        "outside the policy's networks",
    );
    let ok = create(json!({"name": "ok", "scopes": ["sandbox:read"], "expiresIn": "90d"})).await;
    status(&ok, 201, "compliant");
    assert_eq!(
        (ok.body["data"]["rateLimitPerMinute"].as_i64(), ok.body["data"]["rateLimitPerDay"].as_i64()),
        (Some(60), Some(5000))
    );
    let ok_id = ok.body["data"]["id"].as_str().unwrap().to_owned();
    let own =
        create(json!({"name": "own", "scopes": ["sandbox:read"], "expiresIn": "1d", "rateLimitPerMinute": 5})).await;
    status(&own, 201, "own limit");
    assert_eq!(
        (own.body["data"]["rateLimitPerMinute"].as_i64(), own.body["data"]["rateLimitPerDay"].as_i64()),
        (Some(5), Some(5000))
    );

    // Batch: one bad item refuses the batch, naming it; nothing stored.
    let count = |admin: Api| async move { ids(&admin.get("/v1/api-keys?allOrg=true&limit=100").await, "id").len() };
    let n = count(admin.clone()).await;
    let r = admin
        .post(
            "/v1/api-keys/batch",
            json!({"keys": [{"name": "b0", "scopes": ["sandbox:read"], "expiresIn": "1d"}, {"name": "b1", "scopes": ["sandbox:read"]}]}),
        )
        .await;
    violation(&r, "requireExpiry", "batch");
    assert_eq!(r.body["error"]["index"], 1, "{}", r.text);
    assert_eq!(count(admin.clone()).await, n, "nothing stored");

    // Rotate: the old `*` key cannot be reissued as it is; a compliant one can.
    violation(&admin.post_empty(&format!("/v1/api-keys/{before}/rotate")).await, "requireExpiry", "rotate");
    status(&admin.post_empty(&format!("/v1/api-keys/{ok_id}/rotate")).await, 201, "rotate a compliant key");
    let (fresh, _) =
        TestServer::create_key(&admin, json!({"name": "fresh", "scopes": ["sandbox:read"], "expiresIn": "7d"})).await;

    // Update: no new violation; an old one does not block other changes.
    let fresh_path = format!("/v1/api-keys/{fresh}");
    violation(&admin.patch(&fresh_path, json!({"allowedCidrs": ["192.0.2.0/24"]})).await, "allowedCidrs", "update");
    let r = admin.patch(&fresh_path, json!({"allowedCidrs": ["10.1.0.0/16", "::ffff:10.2.0.0/112"]})).await;
    status(&r, 200, "narrower networks");
    assert_eq!(r.body["data"]["allowedCidrs"], json!(["10.1.0.0/16", "10.2.0.0/16"]));
    status(
        &admin.patch(&format!("/v1/api-keys/{before}"), json!({"name": "renamed"})).await,
        200,
        "renaming an old key",
    );

    // Runloop: `ak_` keys hold the creator's scopes; `rk_` keys their own.
    let in_30d = now_ms() + 30 * DAY_MS;
    violation(&admin.post("/v1/apikeys", json!({"name": "rl"})).await, "requireExpiry", "runloop ak_");
    violation(
        &admin.post("/v1/apikeys", json!({"name": "rl", "expires_at_ms": in_30d})).await,
        "forbidWildcardInLive",
        "runloop ak_ with `*`",
    );
    let devboxes = |level: &str| json!([{"resource_type": "RESOURCE_TYPE_DEVBOXES", "access_level": format!("ACCESS_LEVEL_{level}")}]);
    violation(
        &admin
            .post("/v1/restricted_keys", json!({"name": "rk", "scopes": devboxes("WRITE"), "expires_at_ms": in_30d}))
            .await,
        "allowedScopes",
        "runloop rk_",
    );
    let rk = admin
        .post("/v1/restricted_keys", json!({"name": "rk", "scopes": devboxes("READ"), "expires_at_ms": in_30d}))
        .await;
    status(&rk, 200, "compliant rk_");

    // Runtype surface keys.
    let product = admin.post("/v1/products", json!({"name": "shop"})).await.body["id"].as_str().unwrap().to_owned();
    let surface = admin.post(&format!("/v1/products/{product}/surfaces"), json!({"name": "api"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let surface_keys = format!("/v1/products/{product}/surfaces/{surface}/keys");
    violation(
        &admin.post(&surface_keys, json!({"name": "s", "scopes": ["read:sandbox"]})).await,
        "requireExpiry",
        "runtype",
    );
    let expires = latchkey_core::time_fmt::to_rfc3339(now_ms() + 365 * DAY_MS);
    violation(
        &admin.post(&surface_keys, json!({"name": "s", "scopes": ["read:sandbox"], "expiresAt": expires})).await,
        "maxLifetime",
        "runtype, a year",
    );

    // The CLI shows the server's message and rule.
    let cli = User::new(&server.url);
    let run = cli.run_with(&["auth", "keys", "create", "from-cli"], &[("LATCHKEY_API_KEY", &server.admin.api_key)], "");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("policy_violation") && run.stderr.contains("requireExpiry"), "{run:?}");

    // Keys breaking the current policy are listed, never changed.
    let breaking = listed(&admin, false).await;
    assert!(breaking.contains(&before), "{breaking:?}");
    assert!(!breaking.contains(&ok_id) && !breaking.contains(&fresh), "{breaking:?}");
    let keeping = listed(&admin, true).await;
    assert!(keeping.contains(&ok_id) && keeping.contains(&fresh) && !keeping.contains(&before), "{keeping:?}");
    assert_eq!(admin.get(&format!("/v1/api-keys/{before}")).await.body["data"]["scopes"], json!(["*"]));
    status(&admin.get("/v1/api-keys?compliant=maybe").await, 400, "compliant must be a boolean");
}

#[tokio::test]
async fn ip_rules_decide_before_limits_and_credits_through_verify_the_api_and_nginx() {
    let mut server = TestServer::start().await;
    std::fs::write(server.data_dir().join("latchkey.toml"), "trusted_proxies = [\"127.0.0.1\"]\n").unwrap();
    server.restart();
    let admin = server.admin();

    // Verify with the address the platform saw: IPv4, IPv6, mapped, none.
    let (id, key) = TestServer::create_key(
        &admin,
        json!({"name": "net", "scopes": ["sandbox:*", "org:read"], "allowedCidrs": ["127.0.0.5", "2001:db8::/32"],
               "rateLimitPerMinute": 5, "remaining": 10}),
    )
    .await;
    let verify = |ip: Option<&str>| {
        let mut body = json!({"key": key, "scopes": ["sandbox:read"]});
        if let Some(ip) = ip {
            body["ip"] = json!(ip);
        }
        admin.post("/v1/keys/verify", body)
    };
    for (ip, code) in [
        (Some("127.0.0.5"), "VALID"),
        (Some("::ffff:127.0.0.5"), "VALID"),
        (Some("2001:db8:1::9"), "VALID"),
        (Some("127.0.0.6"), "IP_NOT_ALLOWED"),
        (Some("::ffff:127.0.0.6"), "IP_NOT_ALLOWED"),
        (Some("2001:db9::1"), "IP_NOT_ALLOWED"),
        (None, "IP_NOT_ALLOWED"),
    ] {
        let r = verify(ip).await;
        status(&r, 200, &format!("{ip:?}"));
        assert_eq!(r.body["data"]["code"], code, "{ip:?}: {}", r.text);
    }
    status(&verify(Some("not-an-ip")).await, 400, "a malformed ip");
    // Four refusals spent nothing: the fourth success sees one token and
    // six credits left of five and ten.
    let r = verify(Some("127.0.0.5")).await;
    assert_eq!(r.body["data"]["code"], "VALID", "{}", r.text);
    assert_eq!(r.body["data"]["ratelimit"]["remaining"], 1, "{}", r.text);
    assert_eq!(r.body["data"]["remaining"], 6, "{}", r.text);
    assert_eq!(admin.get(&format!("/v1/api-keys/{id}")).await.body["data"]["remaining"], 6);

    // latchkey's own API: the peer, or what a trusted proxy forwards.
    let (_, reader) = TestServer::create_key(
        &admin,
        json!({"name": "reader", "scopes": ["org:read"], "allowedCidrs": ["127.0.0.5/32"]}),
    )
    .await;
    status(&server.with_key_from(&reader, "127.0.0.5").get("/v1/scopes").await, 200, "inside");
    let outside = server.with_key_from(&reader, "127.0.0.6").get("/v1/scopes").await;
    status(&outside, 403, "outside");
    assert_eq!(outside.error_code(), "ip_not_allowed");
    let spoofed = reqwest::Client::builder()
        .local_address("127.0.0.6".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
        .get(format!("{}/v1/scopes", server.url))
        .header("X-API-Key", &reader)
        .header("X-Forwarded-For", "127.0.0.5")
        .header("X-Real-IP", "127.0.0.5")
        .send()
        .await
        .unwrap();
    assert_eq!(spoofed.status(), 403, "an untrusted peer's X-Forwarded-For is ignored");
    let proxied = reqwest::Client::new()
        .get(format!("{}/v1/scopes", server.url))
        .header("X-API-Key", &reader)
        .header("X-Forwarded-For", "127.0.0.5")
        .send()
        .await
        .unwrap();
    assert_eq!(proxied.status(), 200, "a trusted proxy's X-Forwarded-For is believed");

    // Forward auth behind nginx, which forwards the client's address.
    let (_, gate) = TestServer::create_key(
        &admin,
        json!({"name": "gate", "scopes": ["sandbox:create"], "allowedCidrs": ["127.0.0.5/32"], "rateLimitPerMinute": 2}),
    )
    .await;
    let nginx = Nginx::start(&server.url).await;
    let from = |local: &str| {
        reqwest::Client::builder().local_address(local.parse::<std::net::IpAddr>().unwrap()).build().unwrap()
    };
    let through = |client: reqwest::Client, xff: &'static str| {
        let url = format!("{}/v1/sandboxes", nginx.front());
        let gate = gate.clone();
        async move {
            client
                .post(url)
                .header("X-API-Key", gate)
                .header("X-Forwarded-For", xff)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    for _ in 0..3 {
        // nginx replaces the client's X-Forwarded-For with its address.
        assert_eq!(through(from("127.0.0.6"), "127.0.0.5").await, 403, "{}", nginx.logs());
    }
    let passed = [through(from("127.0.0.5"), "").await, through(from("127.0.0.5"), "").await];
    assert_eq!(passed, [200, 200], "three refusals spent no token of two: {}", nginx.logs());
    assert_eq!(through(from("127.0.0.5"), "").await, 429, "then the limit holds");

    // The policy's networks apply to keys without their own, at once.
    let (_, plain) = TestServer::create_key(&admin, json!({"name": "plain", "scopes": ["org:read"]})).await;
    let far = server.with_key_from(&plain, "127.0.0.9");
    status(&far.get("/v1/scopes").await, 200, "no rule yet");
    let policy = format!("/v1/orgs/{}/key-policy", server.admin.org_id);
    status(&admin.put(&policy, json!({"allowedCidrs": ["127.0.0.0/29"]})).await, 200, "policy networks");
    status(&far.get("/v1/scopes").await, 403, "outside the policy's networks, on the next request");
    status(&server.with_key_from(&plain, "127.0.0.3").get("/v1/scopes").await, 200, "inside them");
    status(&server.with_key_from(&reader, "127.0.0.5").get("/v1/scopes").await, 200, "a key's own networks win");
    status(&admin.put(&policy, json!({})).await, 200, "policy cleared");
    status(&far.get("/v1/scopes").await, 200, "no rule again");

    // Lists over 100 networks are refused.
    let many: Vec<String> = (0..101).map(|i| format!("10.0.{i}.0/24")).collect();
    let r = admin.post("/v1/api-keys", json!({"name": "many", "allowedCidrs": many})).await;
    status(&r, 400, "101 networks");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("at most 100"), "{}", r.text);
}
