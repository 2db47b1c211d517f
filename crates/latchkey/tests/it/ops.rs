//! `GET /readyz` and `GET /metrics` on a healthy server.

use serde_json::json;

use crate::common::TestServer;

/// The value of the sample `name{labels}` (exact label text), if present.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))?.rsplit(' ').next()?.parse().ok()
}

#[tokio::test]
async fn readyz_and_metrics_report_what_happened() {
    let server = TestServer::start().await;
    let anon = server.anonymous();
    let ready = anon.get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.body["database"], "ok");
    assert_eq!(ready.body["redis"], "not configured");

    let admin = server.admin();
    let (_, key) = TestServer::create_key(&admin, json!({"name": "m", "rateLimitPerMinute": 1})).await;
    for body in [json!({"key": key}), json!({"key": key}), json!({"key": "lk_live_not_a_key"})] {
        assert_eq!(admin.post("/v1/keys/verify", body).await.status, 200);
    }
    let page = anon.get("/metrics").await;
    assert_eq!(page.status, 200);
    let text = &page.text;
    // Each verify above, plus the admin key's own authentication of every request.
    assert!(sample(text, r#"latchkey_verify_total{outcome="VALID"}"#).unwrap() >= 2.0, "{text}");
    assert_eq!(sample(text, r#"latchkey_verify_total{outcome="RATE_LIMITED"}"#), Some(1.0), "{text}");
    assert_eq!(sample(text, r#"latchkey_verify_total{outcome="MALFORMED"}"#), Some(1.0), "{text}");
    assert_eq!(sample(text, "latchkey_ratelimit_rejections_total"), Some(1.0), "{text}");
    assert!(sample(text, "latchkey_verify_duration_seconds_count").unwrap() >= 4.0, "{text}");
    assert!(text.contains(r#"latchkey_verify_duration_seconds_bucket{le="0.001"}"#), "{text}");
    assert!(sample(text, "latchkey_key_cache_hits_total").unwrap() >= 1.0, "{text}");
    assert!(sample(text, r#"latchkey_db_pool_connections{state="open"}"#).unwrap() >= 1.0, "{text}");
    assert!(sample(text, "latchkey_key_cache_entries").unwrap() >= 1.0, "{text}");
    assert!(!text.contains(&key), "no key material in metrics");
}
