use crate::harness::exec_at;

#[tokio::test]
async fn unreachable_server_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("http://127.0.0.1:{port}");
    let config = tempfile::tempdir().unwrap();
    let run = exec_at(&addr, config.path(), &["status"], None, None).await;
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with(&format!("error: cannot reach the server at {addr}: ")),
        "{}",
        run.stderr
    );
    let run = exec_at(&addr, config.path(), &["policy", "list"], None, None).await;
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "error: no token: run `confmgr login`, set CONFMGR_TOKEN, or pass --token\n"
    );
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let config = tempfile::tempdir().unwrap();
    for args in [
        &["token", "revoke"][..],
        &["client", "create"],
        &["policy", "write", "x"],
        &["login", "--method", "ldap"],
    ] {
        let run = exec_at("http://127.0.0.1:1", config.path(), args, Some("t"), None).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
}
