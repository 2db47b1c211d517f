//! `GET /dashboard/keys/{id}`: a key's fields, what it can do and why
//! (its permissions under its owner's current role, its limits' current
//! windows, credits, networks and compliance with the key policy), and its
//! verifications per day for the last 30 days, stacked by outcome
//! (`GET /v1/api-keys/{id}`, `POST /v1/keys/explain` and
//! `GET /v1/api-keys/{id}/usage`). A key the viewer may not manage is the
//! API's 404.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_api_types::{ApiKeyView, ExplainKey, ExplainView, PermissionReason, RateLimitView, UsageDayView};
use latchkey_core::id::KeyId;
use latchkey_core::time_fmt::{day_string, epoch_day, now_ms, to_rfc3339};
use serde::Deserialize;

use super::{NOTICES, Row, Shown, frame, row};
use crate::dashboard::chart::{HEIGHT, Series, StackedBars, WIDTH};
use crate::dashboard::page::{Chrome, Reasons, notice, render, short_time};
use crate::dashboard::session::{PageQuery, Viewer};
use crate::error::ApiError;
use crate::extract::{JsonBody, Query};
use crate::routes::api_keys::{self, UsageQuery};
use crate::routes::explain::explain;
use crate::state::AppState;

/// Days the chart covers, today included.
const DAYS: i64 = 30;

/// The outcomes a key's verifications are counted under, in stacking
/// order: (code, label, colour). Colours keep 3:1 contrast on white.
const OUTCOMES: [(&str, &str, &str); 8] = [
    ("VALID", "Valid", "#1a7f37"),
    ("RATE_LIMITED", "Rate limited", "#bc4c00"),
    ("INSUFFICIENT_SCOPE", "Insufficient scope", "#8250df"),
    ("USAGE_EXCEEDED", "Usage exceeded", "#0550ae"),
    ("EXPIRED", "Expired", "#6e7781"),
    ("REVOKED", "Revoked", "#cf222e"),
    ("DISABLED", "Disabled", "#4d2d00"),
    ("IP_NOT_ALLOWED", "Address not allowed", "#953800"),
];

/// The colour of an outcome this page does not know.
const OTHER_COLOUR: &str = "#24292f";

/// One outcome's total over the chart's days.
#[derive(Debug, Clone)]
struct Total {
    label: String,
    color: &'static str,
    count: i64,
}

/// The chart and what it says.
#[derive(Debug)]
struct Usage {
    chart: StackedBars,
    totals: Vec<Total>,
    total: i64,
    /// The chart's description (its text alternative).
    summary: String,
}

impl Usage {
    /// `days` (the API's answer, oldest first, days without verifications
    /// absent) laid out over the `DAYS` days ending `today` (an epoch day).
    fn new(days: &[UsageDayView], today: i64) -> Self {
        let dates: Vec<String> = (today - DAYS + 1..=today).map(day_string).collect();
        let mut outcomes: Vec<(String, String, &'static str)> =
            OUTCOMES.iter().map(|(code, label, color)| ((*code).to_owned(), (*label).to_owned(), *color)).collect();
        for day in days {
            for code in day.counts.keys() {
                if !outcomes.iter().any(|(c, ..)| c == code) {
                    outcomes.push((code.clone(), code.clone(), OTHER_COLOUR));
                }
            }
        }
        let by_date: BTreeMap<&str, &UsageDayView> = days.iter().map(|d| (d.date.as_str(), d)).collect();
        let series: Vec<Series> = outcomes
            .iter()
            .map(|(code, label, color)| Series {
                label: label.clone(),
                color,
                values: dates
                    .iter()
                    .map(|d| by_date.get(d.as_str()).and_then(|day| day.counts.get(code)).copied().unwrap_or(0))
                    .collect(),
            })
            .collect();
        let totals: Vec<Total> = series
            .iter()
            .map(|s| Total { label: s.label.clone(), color: s.color, count: s.values.iter().sum() })
            .collect();
        let total = totals.iter().map(|t| t.count).sum();
        let (first, last) = (dates.first().cloned().unwrap_or_default(), dates.last().cloned().unwrap_or_default());
        let parts: Vec<String> =
            totals.iter().filter(|t| t.count > 0).map(|t| format!("{} {}", t.count, t.label.to_lowercase())).collect();
        let summary = if total == 0 {
            format!("No verifications from {first} to {last}.")
        } else {
            format!("{total} verifications from {first} to {last}: {}.", parts.join(", "))
        };
        // Columns are labelled by month and day.
        let columns: Vec<String> = dates.iter().map(|d| d.get(5..).unwrap_or(d).to_owned()).collect();
        Self { chart: StackedBars::new(&columns, &series), totals, total, summary }
    }
}

/// The "What this key can do" panel: an explanation
/// (`POST /v1/keys/explain`) in sentences.
#[derive(Debug)]
struct Explained {
    /// Whether verify accepts the key now, in words (its status).
    usable: String,
    /// The permissions the key may use.
    allowed: Vec<String>,
    /// Permissions it holds but may not use, each with why.
    held_back: Vec<(String, &'static str)>,
    /// The catalog permissions none of its scopes covers.
    not_granted: Vec<String>,
    per_minute: String,
    per_day: String,
    /// Credits, for a key with a budget.
    credits: Option<String>,
    networks: String,
    /// Each rule of the key policy it breaks (none: compliant).
    violations: Vec<String>,
}

impl Explained {
    fn new(e: &ExplainView) -> Self {
        let window = |w: Option<&RateLimitView>| {
            w.map_or_else(
                || "No limit".to_owned(),
                |w| format!("{} of {} left now, full again in {} s", w.remaining, w.limit, w.reset),
            )
        };
        let (mut allowed, mut held_back, mut not_granted) = (Vec::new(), Vec::new(), Vec::new());
        for p in &e.permissions {
            match p.reason {
                None => allowed.push(p.permission.clone()),
                Some(PermissionReason::NotGranted) => not_granted.push(p.permission.clone()),
                Some(why) => held_back.push((p.permission.clone(), why.describe())),
            }
        }
        let n = &e.network;
        let networks = match (&n.allowed_cidrs, n.source.as_deref()) {
            (None, _) => "Anywhere".to_owned(),
            (Some(list), Some("policy")) => format!("{} (the key policy's)", list.join(", ")),
            (Some(list), _) => list.join(", "),
        };
        let usable = if e.status == "active" {
            "Yes, for the permissions allowed below".to_owned()
        } else {
            format!("No: the key is {}, so verify refuses it whatever it asks", e.status)
        };
        Self {
            usable,
            allowed,
            held_back,
            not_granted,
            per_minute: window(e.limits.per_minute.as_ref()),
            per_day: window(e.limits.per_day.as_ref()),
            credits: e.credits.as_ref().map(|c| format!("{} left", c.remaining)),
            networks,
            violations: e.policy.violations.iter().map(|v| v.message.clone()).collect(),
        }
    }
}

/// The detail page's query string.
#[derive(Debug, Default, Deserialize)]
pub(super) struct DetailParams {
    /// What the previous request did (`revoked`).
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/keys_detail.html")]
struct DetailPage {
    chrome: Chrome,
    r: Row,
    k: ApiKeyView,
    revoked: Option<String>,
    /// The reasons the disabled controls cite.
    reasons: Reasons,
    usage: Usage,
    explained: Explained,
    width: f64,
    height: f64,
    notice: Option<&'static str>,
    shown: Option<Shown>,
    /// Where the actions come back to.
    from: &'static str,
}

/// `GET /dashboard/keys/{id}`
pub(super) async fn detail(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<KeyId>,
    PageQuery(q): PageQuery<DetailParams>,
) -> Result<Response, ApiError> {
    render_page(&state, &viewer, id, None, notice(q.done.as_deref(), &NOTICES), StatusCode::OK).await
}

/// The detail page of `id` with a key shown once (after a rotation).
pub(super) async fn page(
    state: &AppState,
    viewer: &Viewer,
    id: KeyId,
    shown: Option<Shown>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    render_page(state, viewer, id, shown, None, status).await
}

async fn render_page(
    state: &AppState,
    viewer: &Viewer,
    id: KeyId,
    shown: Option<Shown>,
    notice: Option<&'static str>,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let k = api_keys::get(State(state.clone()), viewer.caller.clone(), Path(id.clone())).await?.0.data;
    let asked = ExplainKey { key_id: Some(id.to_string()), ..ExplainKey::default() };
    let explained = explain(State(state.clone()), viewer.caller.clone(), JsonBody(asked)).await?.0.data;
    let q = UsageQuery { days: Some(u32::try_from(DAYS).unwrap_or(30)) };
    let days = api_keys::usage(State(state.clone()), viewer.caller.clone(), Path(id), Query(q)).await?.0.data;
    let (chrome, names) = frame(state, viewer, std::slice::from_ref(&k)).await?;
    let now = now_ms();
    let now_text = to_rfc3339(now);
    let usage = Usage::new(&days, epoch_day(now));
    let revoked = k.revoked_at.as_deref().filter(|t| *t <= now_text.as_str()).map(short_time);
    let mut reasons = Reasons::default();
    let r = row(k.clone(), &names, viewer, &now_text, &mut reasons);
    let page = DetailPage {
        chrome,
        r,
        reasons,
        k,
        revoked,
        usage,
        explained: Explained::new(&explained),
        width: WIDTH,
        height: HEIGHT,
        notice,
        shown,
        from: "detail",
    };
    Ok(render(status, &page))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn day(date: &str, counts: &[(&str, i64)]) -> UsageDayView {
        let counts: BTreeMap<String, i64> = counts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
        UsageDayView { date: date.to_owned(), total: counts.values().sum(), counts: counts.into_iter().collect() }
    }

    #[test]
    fn days_are_placed_by_date_and_every_outcome_is_totalled() {
        let today = epoch_day(latchkey_core::time_fmt::parse_rfc3339("2026-06-30T12:00:00Z").unwrap());
        let days = [
            day("2026-05-20", &[("VALID", 100)]), // before the chart's first day: not drawn
            day("2026-06-01", &[("VALID", 3), ("REVOKED", 1)]),
            day("2026-06-30", &[("VALID", 2), ("RATE_LIMITED", 4), ("SOMETHING_NEW", 1)]),
        ];
        let u = Usage::new(&days, today);
        let totals: Vec<(&str, i64)> = u.totals.iter().map(|t| (t.label.as_str(), t.count)).collect();
        assert_eq!(
            totals,
            [
                ("Valid", 5),
                ("Rate limited", 4),
                ("Insufficient scope", 0),
                ("Usage exceeded", 0),
                ("Expired", 0),
                ("Revoked", 1),
                ("Disabled", 0),
                ("Address not allowed", 0),
                ("SOMETHING_NEW", 1),
            ]
        );
        assert_eq!(u.total, 11);
        assert_eq!(
            u.summary,
            "11 verifications from 2026-06-01 to 2026-06-30: 5 valid, 4 rate limited, 1 revoked, 1 something_new."
        );
        // Two columns drawn: 06-01 (2 segments) and 06-30 (3 segments), 06-30 last.
        let titles: Vec<&str> = u.chart.segments.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(
            titles,
            ["06-01: 3 Valid", "06-01: 1 Revoked", "06-30: 2 Valid", "06-30: 4 Rate limited", "06-30: 1 SOMETHING_NEW"]
        );
        assert!(u.chart.labels.iter().any(|l| l.text == "06-30"));
    }

    #[test]
    fn no_verifications_say_so() {
        let u = Usage::new(&[], 20_000);
        assert_eq!(u.total, 0);
        assert!(u.summary.starts_with("No verifications from "), "{}", u.summary);
        assert!(u.chart.segments.is_empty());
    }
}
