//! `[workspaces.storage]` as `latchkey serve` reads it at start: a wrong
//! table stops the server with its reason; the secret may come from
//! `LATCHKEY_WORKSPACES_SECRET_ACCESS_KEY`.

/// `latchkey serve` with `table` as its configuration file and `secret` in
/// the environment (or none): its stderr once it stopped. Every case here
/// stops at start; a server that started would make this hang, so each
/// table ends with something refused after the storage table is read.
fn serve_stops(table: &str, secret: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("latchkey.toml");
    std::fs::write(&file, table).unwrap();
    let data = dir.path().join("data");
    let args =
        ["serve", "--listen", "127.0.0.1:0", "--data-dir", data.to_str().unwrap(), "--config", file.to_str().unwrap()];
    let mut cmd = crate::common::cli(&args);
    cmd.env_remove("LATCHKEY_WORKSPACES_SECRET_ACCESS_KEY");
    if let Some(secret) = secret {
        cmd.env("LATCHKEY_WORKSPACES_SECRET_ACCESS_KEY", secret);
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Read after `[workspaces.storage]`, and refused: reaching it means the
/// storage table was accepted.
const REFUSED_AFTER: &str = "[[auth_check.routes]]\npath_prefix = \"/v1/x\"\nscope = \"no:such-scope\"\n";

#[test]
fn a_storage_table_is_checked_at_start_and_its_secret_may_come_from_the_environment() {
    let table = "[workspaces.storage]\nendpoint = \"http://127.0.0.1:9\"\nbucket = \"latchkey-workspaces\"\n\
                 region = \"us-east-1\"\naccess_key_id = \"AKID\"\n";
    let with_routes = format!("{table}{REFUSED_AFTER}");

    let err = serve_stops(&with_routes, None);
    assert!(
        err.contains("set secret_access_key, secret_access_key_file or LATCHKEY_WORKSPACES_SECRET_ACCESS_KEY"),
        "{err}"
    );
    let err = serve_stops(&with_routes, Some("from-the-environment"));
    assert!(err.contains("unknown scope `no:such-scope`"), "the storage table was accepted: {err}");
    assert!(!err.contains("from-the-environment"), "{err}");

    let off_loopback = with_routes.replace("http://127.0.0.1:9", "http://s3.example.com");
    let err = serve_stops(&off_loopback, Some("from-the-environment"));
    assert!(err.contains("endpoint `http://s3.example.com` must be an https:// URL"), "{err}");
    let err = serve_stops(&with_routes.replace("bucket = ", "buckt = "), Some("x"));
    assert!(err.contains("unknown field `buckt`"), "{err}");
}
