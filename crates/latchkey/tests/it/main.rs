//! Integration tests: the real binary over HTTP on loopback.
#![expect(clippy::unwrap_used, clippy::expect_used, reason = "test helpers fail loudly on unexpected state")]

mod api_keys;
mod bad_input;
mod canary;
mod cli;
mod cli_login;
mod client;
mod cluster;
mod common;
mod conflicts;
mod contract;
mod db;
mod faults;
mod forward_auth_nginx;
mod hardening_authz;
mod hardening_edge;
mod hardening_input;
mod hardening_store;
mod idp;
mod init_serve;
mod invited_signup;
mod isolation;
mod matrix;
mod oauth_client;
mod ops;
mod people;
mod projects;
mod readme;
mod runloop;
mod runtype;
mod scopes_auth;
mod secrets;
mod ssh_keys;
mod sshd;
mod sso;
mod verify;
