//! `latchkey workspace …` end to end (issue 24, point 4): the real binary
//! against a real server, as an admin's key, a member's session and a key
//! holding only `files:read`. Records, the list as a table and as JSON,
//! mount checks allowed and refused (the server's code on stderr, exit 1),
//! presigned URLs that really upload to and download from SeaweedFS
//! (`tests/it/s3`), the files listing, and delete.

use serde_json::Value;

use crate::cli::{Run, User};
use crate::s3::weed;
use crate::workspaces::Org;

/// The CLI as the first organization's admin key (`*`).
struct Admin<'a> {
    cli: User,
    key: &'a str,
}

impl Admin<'_> {
    fn run(&self, args: &[&str]) -> Run {
        self.cli.run_with(args, &[("LATCHKEY_API_KEY", self.key)], "")
    }

    fn json(&self, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["--json"]).collect();
        self.run(&args).json()
    }
}

/// `args` as a key in `LATCHKEY_API_KEY`.
fn with_key(cli: &User, key: &str, args: &[&str]) -> Run {
    cli.run_with(args, &[("LATCHKEY_API_KEY", key)], "")
}

/// Asserts the command was refused by the server with `code`: exit 1, the
/// code on stderr, nothing on stdout.
fn refused(r: &Run, code: &str) {
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(&format!("({code})")), "{code}: {r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");
}

/// The row of `table` that names `id`.
fn row<'t>(table: &'t str, id: &str) -> &'t str {
    table.lines().find(|l| l.contains(id)).unwrap_or_else(|| panic!("{id} in:\n{table}"))
}

/// The ids `list --json` printed.
fn listed(list: &Value) -> Vec<&str> {
    list.as_array().unwrap().iter().map(|w| w["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn workspaces_are_created_listed_checked_for_mounts_and_deleted_from_the_cli() {
    let org = Org::start().await;
    let server = &org.server;
    let admin = Admin { cli: User::new(&server.url), key: &server.admin.api_key };
    let ben = &org.member_person;
    let ben_cli = User::new(&server.url);
    ben_cli.login(&ben.email).ok();
    ben_cli.run(&["org", "switch", &server.admin.org_id]).ok();

    let (code, empty) = (admin.run(&["workspace", "list"]), "No workspaces.");
    assert_eq!(code.ok().trim(), empty);

    // Create: an organization workspace in a project with a quota, the
    // admin's own and the member's own.
    let project = admin.json(&["project", "create", "Agents"])["id"].as_str().unwrap().to_owned();
    let r = admin.run(&["workspace", "create", "shared-memory", "--project", &project, "--quota", "10737418240"]);
    assert!(r.ok().starts_with("Created org workspace shared-memory (wsp_"), "{r:?}");
    let org_ws = r.stdout.split(['(', ')']).nth(1).unwrap().to_owned();
    let mine = admin.json(&["workspace", "create", "scratch", "--personal"]);
    assert_eq!((mine["kind"].as_str(), mine["ownerUserId"].as_str()), (Some("personal"), Some(&*server.admin.user_id)));
    let mine = mine["id"].as_str().unwrap().to_owned();
    let bens = ben_cli.run(&["workspace", "create", "ben-notes", "--personal", "--json"]).json();
    let bens = bens["id"].as_str().unwrap().to_owned();
    // A member cannot make one of the organization's.
    refused(&ben_cli.run(&["workspace", "create", "not-mine", "--project", &project]), "forbidden");
    // Bad input stops before the server: a quota of 0, a bad kind.
    let r = admin.run(&["workspace", "create", "x", "--quota", "0"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(admin.run(&["workspace", "list", "--kind", "shared"]).code, 2);

    // The list for people: id, name, kind, owner, project, quota.
    let table = admin.run(&["workspace", "list"]);
    for want in ["ID", "NAME", "KIND", "OWNER", "PROJECT", "QUOTA"] {
        assert!(table.ok().lines().next().unwrap().contains(want), "{want}: {table:?}");
    }
    let org_row = row(&table.stdout, &org_ws);
    for want in ["shared-memory", "org", &project, "10737418240"] {
        assert!(org_row.contains(want), "{want}: {org_row}");
    }
    let my_row = row(&table.stdout, &mine);
    assert!(my_row.contains("scratch") && my_row.contains("personal") && my_row.contains(" me "), "{my_row}");
    assert!(!table.stdout.contains(&bens), "a member's personal workspace is not in the admin's own list");
    // With --all the admin sees it too, owned by the member's id.
    let all = admin.run(&["workspace", "list", "--all"]);
    assert!(row(all.ok(), &bens).contains(&ben.user_id), "{all:?}");

    // The list for scripts, with its filters.
    let list = admin.json(&["workspace", "list"]);
    assert_eq!(listed(&list).len(), 2, "{list}");
    let w = list.as_array().unwrap().iter().find(|w| w["id"] == org_ws.as_str()).unwrap();
    assert_eq!(w["storagePrefix"], format!("orgs/{}/workspaces/{org_ws}/", server.admin.org_id));
    assert_eq!(w["quotaBytes"], 10_737_418_240_i64);
    assert_eq!(listed(&admin.json(&["workspace", "list", "--kind", "personal"])), [mine.as_str()]);
    assert_eq!(listed(&admin.json(&["workspace", "list", "--project", &project])), [org_ws.as_str()]);
    let bens_list = ben_cli.run(&["workspace", "list", "--json"]).json();
    let mut bens_view = listed(&bens_list);
    bens_view.sort_unstable();
    let mut want = vec![org_ws.as_str(), bens.as_str()];
    want.sort_unstable();
    assert_eq!(bens_view, want, "a member sees the organization's and their own");

    // Mount checks: an organization workspace read-only is allowed; for
    // people the answer and its expiry, never the grant.
    let check = ["workspace", "mount-check", &org_ws, "--sandbox", "sbx_1", "--path", "/workspace"];
    let r = admin.run(&check);
    assert!(r.ok().contains("read-only mount of") && r.stdout.contains("/workspace"), "{r:?}");
    assert!(r.stdout.contains("sbx_1") && r.stdout.contains("in 5 minutes"), "{r:?}");
    let g = admin.json(&check);
    assert_eq!((g["allowed"].as_bool(), g["mode"].as_str()), (Some(true), Some("ro")));
    let grant = g["grant"].as_str().unwrap();
    assert_eq!(grant.split('.').count(), 3, "a compact JWS: {g}");
    assert!(!r.stdout.contains(grant), "the grant is printed only with --json");
    let rw: Vec<&str> = check.iter().copied().chain(["--rw"]).collect();
    assert_eq!(admin.json(&rw)["mode"], "rw");

    // Refusals: exit 1 with the server's code and message on stderr.
    let r = admin.run(&["workspace", "mount-check", &mine, "--sandbox", "sbx_1", "--path", "/workspace"]);
    refused(&r, "personal_workspace_not_mountable");
    let r = admin.run(&["workspace", "mount-check", &org_ws, "--sandbox", "sbx_1", "--path", "/etc/x"]);
    refused(&r, "invalid_mount_path");
    let read_only = admin.json(&["auth", "keys", "create", "reader", "--scope", "files:read"]);
    let read_only = read_only["key"].as_str().unwrap();
    assert!(with_key(&admin.cli, read_only, &check).ok().contains("read-only mount of"));
    refused(&with_key(&admin.cli, read_only, &rw), "insufficient_scope");
    // Another member's personal workspace does not exist for a member.
    let r = ben_cli.run(&["workspace", "mount-check", &mine, "--sandbox", "sbx_1", "--path", "/workspace"]);
    refused(&r, "not_found");

    // Without an object store, presign and files say so; the rest works.
    refused(&admin.run(&["workspace", "presign", &org_ws, "a.txt", "--put"]), "storage_not_configured");
    refused(&admin.run(&["workspace", "files", &org_ws]), "storage_not_configured");

    // Delete, for people and for scripts; then it is gone.
    let r = admin.run(&["workspace", "delete", &org_ws]);
    assert_eq!(r.ok().trim(), format!("Deleted workspace {org_ws}."));
    assert_eq!(admin.json(&["workspace", "delete", &mine])["deleted"], mine.as_str());
    refused(&ben_cli.run(&["workspace", "delete", &org_ws]), "not_found");
    assert_eq!(listed(&admin.json(&["workspace", "list", "--all"])), [bens.as_str()]);
}

#[tokio::test]
async fn s3_presigned_urls_from_the_cli_upload_and_download_through_the_store() {
    let Some(weed) = weed().await else { return };
    let org = Org::with_store(weed).await;
    let server = &org.server;
    let admin = Admin { cli: User::new(&server.url), key: &server.admin.api_key };
    let ws = admin.json(&["workspace", "create", "agent-memory"])["id"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();

    assert_eq!(admin.run(&["workspace", "files", &ws]).ok().trim(), "No files.");

    // `presign --put` prints only the URL: upload through it.
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let put = admin.run(&["workspace", "presign", &ws, "notes/day 1.bin", "--put", "--expires", "120"]);
    let url = put.ok().trim_end_matches('\n');
    assert_eq!(put.stdout.lines().count(), 1, "one line, the URL: {put:?}");
    assert!(url.starts_with(&weed.endpoint) && url.contains(&ws), "{url}");
    let res = http.put(url).body(bytes.clone()).send().await.unwrap();
    assert!(res.status().is_success(), "upload: {}", res.status());

    // A presigned GET reads the same bytes back; with --json, the details.
    let get = admin.json(&["workspace", "presign", &ws, "notes/day 1.bin"]);
    assert_eq!((get["method"].as_str(), get["path"].as_str()), (Some("GET"), Some("notes/day 1.bin")));
    let res = http.get(get["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert!(res.bytes().await.unwrap() == bytes, "the bytes come back as uploaded");

    // The PUT URL does not read, and a GET URL does not upload (the
    // signature covers the method).
    assert!(!http.get(url).send().await.unwrap().status().is_success());
    let res = http.put(get["url"].as_str().unwrap()).body("overwritten").send().await.unwrap();
    assert!(!res.status().is_success());

    // The files listing, as a table and as JSON; --prefix narrows it.
    let url = admin.run(&["workspace", "presign", &ws, "other.txt", "--put"]).ok().trim().to_owned();
    assert!(http.put(&url).body("x").send().await.unwrap().status().is_success());
    let table = admin.run(&["workspace", "files", &ws]);
    assert!(row(table.ok(), "notes/day 1.bin").contains("70000"), "{table:?}");
    assert!(table.stdout.contains("other.txt") && table.stdout.contains("just now"), "{table:?}");
    let files = admin.json(&["workspace", "files", &ws, "--prefix", "notes/"]);
    let files = files.as_array().unwrap();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!((files[0]["path"].as_str(), files[0]["size"].as_u64()), (Some("notes/day 1.bin"), Some(70_000)));

    // Bad paths are refused by the server before anything is signed.
    refused(&admin.run(&["workspace", "presign", &ws, "../escape.txt", "--put"]), "invalid_path");
    // A key with only files:read may read but not upload.
    let reader = admin.json(&["auth", "keys", "create", "reader", "--scope", "files:read"]);
    let reader = reader["key"].as_str().unwrap();
    assert!(with_key(&admin.cli, reader, &["workspace", "presign", &ws, "other.txt"]).ok().starts_with("http"));
    refused(&with_key(&admin.cli, reader, &["workspace", "presign", &ws, "other.txt", "--put"]), "insufficient_scope");

    // A workspace that still holds objects is not deleted; emptied through
    // presigned DELETEs, it is.
    refused(&admin.run(&["workspace", "delete", &ws]), "workspace_not_empty");
    for path in ["notes/day 1.bin", "other.txt"] {
        let url = admin.run(&["workspace", "presign", &ws, path, "--delete"]).ok().trim().to_owned();
        assert!(http.delete(&url).send().await.unwrap().status().is_success());
    }
    assert_eq!(admin.run(&["workspace", "files", &ws]).ok().trim(), "No files.");
    assert!(admin.run(&["workspace", "delete", &ws]).ok().contains("Deleted workspace"));
    refused(&admin.run(&["workspace", "files", &ws]), "not_found");
}
