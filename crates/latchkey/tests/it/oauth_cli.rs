//! `latchkey oauth …` end to end (issue 23, point 6): the real binary as a
//! child process, logged in as a person, against a server whose catalog
//! names the test IdP as a GitHub-like provider; the test drives the
//! browser half of a connect (the person's dashboard session, the IdP, the
//! callback) while the CLI polls. Connect waiting and completing, a failed
//! and an expired connect, Ctrl-C, the status table, set-default with and
//! without `--account`, disconnect, providers, and an organization's own
//! client credentials set from a file (the secret never printed, and used
//! by the next connect).

use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::canary::remember_secret;
use crate::cli_login::{Cli, finish, line_after};
use crate::common::PASSWORD;
use crate::db::Db;
use crate::idp::{IdpUser, idp, unique_sub};
use crate::oauth::{OAuth, Session, callback_of, page, to_callback};

/// The provider the tests connect (userinfo and revocation, the catalog's
/// client; `oauth/mod.rs`).
const PROVIDER: &str = "octo";

/// A person of the first organization (`role`) with the CLI logged in as
/// them and acting there, and their dashboard session.
struct Someone {
    session: Session,
    cli: Cli,
}

impl Someone {
    async fn new(o: &OAuth, role: &str) -> Self {
        let session = o.member(role).await;
        let cli = Cli::new(&o.server);
        let r = cli.run_with_stdin(&["login", "--email", &session.person.email, "--password-stdin"], PASSWORD);
        assert_eq!(r.0, 0, "login: {r:?}");
        let r = cli.run_with_stdin(&["org", "switch", &o.server.admin.org_id], "");
        assert_eq!(r.0, 0, "org switch: {r:?}");
        Self { session, cli }
    }

    /// Runs the CLI; (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.cli.run_with_stdin(args, "")
    }

    /// `args --json`, which must succeed.
    fn json(&self, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        let (code, stdout, stderr) = self.run(&args);
        assert_eq!(code, 0, "{args:?}: {stdout}\n{stderr}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {stdout}"))
    }

    /// Starts `latchkey oauth connect PROVIDER … --no-browser`; returns the
    /// child, its stderr lines and the URL it printed, once it waits.
    fn start_connect(&self, extra: &[&str]) -> (Child, mpsc::Receiver<String>, String) {
        let mut args = vec!["oauth", "connect", PROVIDER, "--no-browser"];
        args.extend_from_slice(extra);
        let (child, rx) = self.cli.spawn(&args);
        let mut seen = Vec::new();
        let url = line_after(&rx, &format!("Open this URL to connect {PROVIDER}:"), &mut seen);
        line_after(&rx, "Waiting for the connection", &mut seen);
        (child, rx, url)
    }

    /// Opens `url` in the person's signed-in browser, through the IdP to
    /// latchkey's callback; returns the callback page's status and text.
    async fn finish_in_browser(&self, url: &str) -> (u16, String) {
        let callback = to_callback(&self.session.browser, url).await;
        let (status, text, _) = page(&self.session.browser, callback.as_str()).await;
        (status, text)
    }

    /// A whole `latchkey oauth connect` with `extra` arguments, the browser
    /// half done as the test; returns what it printed (the CLI's exit code
    /// tells how the callback went).
    async fn connect(&self, extra: &[&str]) -> (i32, String, String) {
        let (child, rx, url) = self.start_connect(extra);
        self.finish_in_browser(&url).await;
        finish(child, &rx)
    }
}

/// A new account at the IdP that refuses the authorization
/// (`error=access_denied`), signing in on `client`'s requests from now on.
async fn refusing_account_at(client: &str) {
    let sub = unique_sub("refuses");
    let email = format!("{sub}@octo.example");
    let user = IdpUser { sub: &sub, email: &email, email_verified: true, name: "No", deny: true, ..IdpUser::default() };
    idp().add_user(user).await;
    idp().set_default_user_for(client, &sub).await;
}

/// A new account at the IdP who signs in on `client`'s requests from now on
/// ([`OAuth::account_at`]); returns its label at latchkey (the provider's
/// `preferred_username`: the IdP's email of the account).
async fn account(o: &OAuth, client: &str) -> String {
    format!("{}@octo.example", o.account_at(client).await)
}

/// [`PROVIDER`] in `providers --json`.
fn octo(providers: &Value) -> &Value {
    providers.as_array().unwrap().iter().find(|p| p["id"] == PROVIDER).unwrap_or_else(|| panic!("{providers}"))
}

/// The connections `status --json` lists, by account label.
fn by_label<'a>(list: &'a Value, label: &str) -> &'a Value {
    list.as_array().unwrap().iter().find(|c| c["accountLabel"] == label).unwrap_or_else(|| panic!("{label} in {list}"))
}

#[tokio::test]
async fn connect_waits_for_the_browser_then_status_set_default_and_disconnect() {
    let o = OAuth::start().await;
    let ana = Someone::new(&o, "admin").await;

    // The catalog, for people and for scripts.
    let (code, table, _) = ana.run(&["oauth", "providers"]);
    assert_eq!(code, 0, "{table}");
    for want in ["ID", "NAME", "CONFIGURED", "DEFAULT SCOPES", "ORG CLIENT", PROVIDER, "Octo", "yes", "repo read:user"]
    {
        assert!(table.contains(want), "{want}: {table}");
    }
    let providers = ana.json(&["oauth", "providers"]);
    assert_eq!(octo(&providers)["configured"], true);
    assert_eq!(octo(&providers)["orgClient"], Value::Null);

    let (code, empty, _) = ana.run(&["oauth", "status"]);
    assert_eq!((code, empty.trim()), (0, "No connected apps."));

    // Connect: the CLI prints the page and waits; the person's browser goes
    // through the IdP and back; the CLI sees it complete and says what.
    let first = account(&o, &o.octo_client).await;
    let (child, rx, url) = ana.start_connect(&[]);
    assert!(url.starts_with(&format!("{}/v1/oauth/connect/ocr_", o.server.url)), "{url}");
    // Still waiting a couple of polls later.
    std::thread::sleep(Duration::from_millis(2500));
    let (status, page) = ana.finish_in_browser(&url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&first), "the page names the account: {page}");
    let (code, stdout, stderr) = finish(child, &rx);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains(&format!("Connected {PROVIDER} account {first}")), "{stdout}");
    assert!(stdout.contains(&format!("It is your default for {PROVIDER}.")), "{stdout}");

    // A second account, with fewer scopes, printed as JSON: not the default.
    let second = account(&o, &o.octo_client).await;
    let (code, stdout, stderr) = ana.connect(&["--scope", "read:user", "--json"]).await;
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let conn: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(conn["accountLabel"], second.as_str());
    assert_eq!(conn["isDefault"], false);
    assert_eq!(conn["grantedScopes"], json!(["read:user"]));
    let second_id = conn["id"].as_str().unwrap().to_owned();

    // Status: both, mine, one default, scopes, status, expiry; never a token.
    let (code, table, _) = ana.run(&["oauth", "status"]);
    assert_eq!(code, 0, "{table}");
    for want in ["PROVIDER", "ACCOUNT", "DEFAULT", "OWNER", "SCOPES", "STATUS", "EXPIRES", &first, &second, &second_id]
    {
        assert!(table.contains(want), "{want}: {table}");
    }
    let row = |label: &str| table.lines().find(|l| l.contains(label)).unwrap().to_owned();
    let (row1, row2) = (row(&first), row(&second));
    assert!(row1.contains('✓') && !row2.contains('✓'), "{table}");
    for r in [&row1, &row2] {
        let expiry = ["in 59 minutes", "in 1 hour"].iter().any(|e| r.contains(e));
        assert!(r.contains(" me ") && r.contains("active") && expiry, "{r}");
    }
    assert!(row1.contains("read:user") && row1.contains("repo") && !row2.contains("repo"), "{table}");
    let list = ana.json(&["oauth", "status", "--provider", PROVIDER]);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("accessToken").is_none() && c["ownerUserId"] == ana.session.user_id())
    );
    assert_eq!(ana.json(&["oauth", "status", "--provider", "other"]), json!([]));

    // set-default: refused with the list when there are several, then by label.
    let (code, _, stderr) = ana.run(&["oauth", "set-default", PROVIDER]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--account") && stderr.contains(&first) && stderr.contains(&second), "{stderr}");
    let (code, _, stderr) = ana.run(&["oauth", "set-default", PROVIDER, "--account", "nobody"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("nobody") && stderr.contains(&first), "{stderr}");
    let (code, stdout, stderr) = ana.run(&["oauth", "set-default", PROVIDER, "--account", &second]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("{second} ({second_id}) is now your default")), "{stdout}");
    let list = ana.json(&["oauth", "status"]);
    assert_eq!(by_label(&list, &second)["isDefault"], true);
    assert_eq!(by_label(&list, &first)["isDefault"], false);

    // Disconnect the default: gone, and the other one is the default again.
    let (code, stdout, stderr) = ana.run(&["oauth", "disconnect", &second_id]);
    assert_eq!((code, stdout.trim()), (0, format!("Disconnected {second_id}.").as_str()), "{stderr}");
    let list = ana.json(&["oauth", "status"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(by_label(&list, &first)["isDefault"], true);
    let (code, _, stderr) = ana.run(&["oauth", "disconnect", &second_id]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not_found"), "{stderr}");
    // With one connection, set-default needs no --account.
    let (code, stdout, stderr) = ana.run(&["oauth", "set-default", PROVIDER]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&first), "{stdout}");

    // A member: no shared connect, no --all-org; their own connection is
    // theirs, and the admin sees it with --all-org under their id.
    let ben = Someone::new(&o, "member").await;
    let (code, _, stderr) = ben.run(&["oauth", "connect", PROVIDER, "--shared", "--no-browser"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("forbidden") && !stderr.contains("Open this URL"), "{stderr}");
    let (code, _, stderr) = ben.run(&["oauth", "status", "--all-org"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("forbidden"), "{stderr}");
    let bens = account(&o, &o.octo_client).await;
    let (code, stdout, stderr) = ben.connect(&[]).await;
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(ben.run(&["oauth", "status"]).1.contains(" me "), "Ben's own is `me` to him");
    let (code, _, stderr) = ben.run(&["oauth", "disconnect", by_label(&list, &first)["id"].as_str().unwrap()]);
    assert_eq!(code, 1, "a member cannot disconnect another's: {stderr}");
    assert!(stderr.contains("not_found"), "{stderr}");

    // The admin's shared connection: owner `org` for everyone.
    let shared = account(&o, &o.octo_client).await;
    let (code, stdout, stderr) = ana.connect(&["--shared"]).await;
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains("shared with the organization") && stdout.contains("the organization's default"),
        "{stdout}"
    );
    let (_, table, _) = ana.run(&["oauth", "status", "--all-org"]);
    let row = |label: &str| {
        table.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("{label}: {table}")).to_owned()
    };
    assert!(row(&first).contains(" me "), "{table}");
    assert!(row(&shared).contains(" org "), "{table}");
    assert!(row(&bens).contains(ben.session.user_id()), "{table}");
    let (_, bens_table, _) = ben.run(&["oauth", "status"]);
    assert!(bens_table.lines().any(|l| l.contains(&shared) && l.contains(" org ")), "{bens_table}");
    assert!(!bens_table.contains(&first), "Ben does not see Ana's own: {bens_table}");
}

#[tokio::test]
async fn a_refused_or_expired_connect_exits_non_zero_and_ctrl_c_stops_waiting() {
    let o = OAuth::start().await;
    let ana = Someone::new(&o, "member").await;

    // The person refuses at the provider: the request fails, the CLI says why.
    refusing_account_at(&o.octo_client).await;
    let (child, rx, url) = ana.start_connect(&[]);
    ana.finish_in_browser(&url).await;
    let (code, stdout, stderr) = finish(child, &rx);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains(&format!("connecting {PROVIDER} failed")) && stderr.contains("access_denied"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");

    // Nobody finishes it in time (the request aged in the database).
    let (child, rx, url) = ana.start_connect(&[]);
    let id = url.split("/connect/").nth(1).unwrap().split('/').next().unwrap().to_owned();
    let db = Db::connect(&o.server).await;
    assert_eq!(db.exec(&format!("UPDATE oauth_connect_requests SET expires_at = 1 WHERE id = '{id}'")).await, 1);
    db.close().await;
    let (code, stdout, stderr) = finish(child, &rx);
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("nobody finished connecting in time"), "{stderr}");

    // Ctrl-C while waiting: a sentence, exit 130, nothing connected.
    let (child, rx, _url) = ana.start_connect(&[]);
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let (code, stdout, stderr) = finish(child, &rx);
    assert_eq!(code, 130, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("stopped waiting") && stderr.contains("expires on its own"), "{stderr}");
    assert_eq!(ana.json(&["oauth", "status"]), json!([]));

    // Refusals before any URL: an unknown provider, a bad scope.
    let (code, _, stderr) = ana.run(&["oauth", "connect", "nope", "--no-browser"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not_found") && !stderr.contains("Open this URL"), "{stderr}");
    let (code, _, stderr) = ana.run(&["oauth", "connect", PROVIDER, "--scope", "a\u{7f}b", "--no-browser"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("is not a scope of Octo") && stderr.contains("invalid_request"), "{stderr}");
}

#[tokio::test]
async fn set_client_reads_the_secret_from_a_file_never_prints_it_and_the_next_connect_uses_it() {
    let o = OAuth::start().await;
    let (ana, ben) = (Someone::new(&o, "admin").await, Someone::new(&o, "member").await);

    // The organization's own client at the IdP.
    let (client_id, secret) = (unique_sub("acme-app"), unique_sub("acme-secret"));
    remember_secret(&secret);
    idp().register_oauth_client(&client_id, &secret, &[&callback_of(&o.server)], None).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let file = file.to_str().unwrap();

    // A member may not.
    let (code, stdout, stderr) =
        ben.run(&["oauth", "set-client", PROVIDER, "--client-id", &client_id, "--client-secret-file", file]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("forbidden"), "{stderr}");
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret));

    // The admin: from the file (its trailing newline dropped); never printed.
    let (code, stdout, stderr) =
        ana.run(&["oauth", "set-client", PROVIDER, "--client-id", &client_id, "--client-secret-file", file]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&client_id) && stdout.contains("with a secret"), "{stdout}");
    let json = ana.json(&["oauth", "set-client", PROVIDER, "--client-id", &client_id, "--client-secret-file", file]);
    assert_eq!(json["orgClient"]["clientId"], client_id.as_str());
    assert_eq!(json["orgClient"]["hasClientSecret"], true);
    let (_, table, _) = ana.run(&["oauth", "providers"]);
    assert!(table.contains(&format!("{client_id} (with a secret)")), "{table}");
    for out in [&stdout, &stderr, &json.to_string(), &table, &ben.run(&["oauth", "providers", "--json"]).1] {
        assert!(!out.contains(&secret), "the secret was printed: {out}");
    }
    let (code, _, stderr) = ana.run(&[
        "oauth",
        "set-client",
        PROVIDER,
        "--client-id",
        &client_id,
        "--client-secret-file",
        "/nonexistent/x",
    ]);
    assert_eq!(code, 2, "{stderr}");

    // The next connect goes through the organization's client: the IdP
    // accepts its id and secret (so it arrived intact), and the account
    // comes from it.
    let via_org = account(&o, &client_id).await;
    let (code, stdout, stderr) = ana.connect(&[]).await;
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains(&format!("account {via_org}")), "{stdout}");

    // A wrong secret (from stdin) makes the next connect fail at the code exchange.
    let r = ana.cli.run_with_stdin(
        &["oauth", "set-client", PROVIDER, "--client-id", &client_id, "--client-secret-stdin"],
        "not-the-secret\n",
    );
    assert_eq!(r.0, 0, "{r:?}");
    o.account_at(&client_id).await;
    let (code, stdout, stderr) = ana.connect(&[]).await;
    assert_eq!(code, 1, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("failed"), "{stderr}");

    // Removed: the operator's client again; removing twice is not_found.
    let (code, stdout, stderr) = ana.run(&["oauth", "remove-client", PROVIDER]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Removed"), "{stdout}");
    assert_eq!(octo(&ana.json(&["oauth", "providers"]))["orgClient"], Value::Null);
    let (code, _, stderr) = ana.run(&["oauth", "remove-client", PROVIDER]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not_found"), "{stderr}");
    let (code, _, stderr) = ben.run(&["oauth", "remove-client", PROVIDER]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("forbidden"), "{stderr}");
    let via_operator = account(&o, &o.octo_client).await;
    let (code, stdout, stderr) = ana.connect(&[]).await;
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains(&format!("account {via_operator}")), "{stdout}");
    assert!(!o.server.logs().contains(&secret), "the organization's client secret reached the log");
}
