//! A pool whose password changes (RDS IAM auth, `Store::connect_with_login`), against a real
//! PostgreSQL: a role that logs in by password (scram-sha-256) over verify-full TLS without
//! a client certificate, as ConfMgr does on RDS. The test's password source hands out the
//! role's current password, and the test rotates it with `ALTER ROLE … PASSWORD` the way a
//! new RDS token replaces one that expires.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confmgr_store::{DynamicLogin, Password, PasswordFuture, PasswordSource, Store, StoreOptions};
use confmgr_testkit::{PrivatePostgres, TestPostgres};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::str::FromStr;

const ROLE: &str = "iam_login";
/// Shaped like RDS tokens, with the bytes a URL password must carry encoded (`%`, `/`, `&`,
/// `=`, `+`, `:` and `?`): the pool must log in with exactly these strings.
const FIRST: &str = "db.example:5432/?Action=connect&DBUser=iam_login&X-Amz-Credential=AKIDEXAMPLE%2F20250615%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Signature=1111+1111=";
const SECOND: &str = "db.example:5432/?Action=connect&DBUser=iam_login&X-Amz-Credential=AKIDEXAMPLE%2F20250615%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Signature=2222+2222=";
/// Every wait below polls up to this long; none asserts on timing.
const BOUND: Duration = Duration::from_secs(30);

/// The test's token maker: the current password, or a failure while `failing`.
struct Rotating {
    current: Mutex<String>,
    failing: AtomicBool,
    calls: AtomicU32,
}

impl Rotating {
    fn new(password: &str) -> Arc<Self> {
        Arc::new(Self {
            current: Mutex::new(password.to_owned()),
            failing: AtomicBool::new(false),
            calls: AtomicU32::new(0),
        })
    }

    fn set(&self, password: &str) {
        *self.current.lock().unwrap() = password.to_owned();
    }
}

impl PasswordSource for Rotating {
    fn password(&self) -> PasswordFuture<'_> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err("test source: no credentials right now".to_owned());
            }
            Ok(Password::new(self.current.lock().unwrap().clone()))
        })
    }
}

struct Fixture {
    pg: PrivatePostgres,
    admin: String,
    url: String,
    source: Arc<Rotating>,
    store: Store,
}

async fn fixture(refresh: Duration) -> Fixture {
    let pg = TestPostgres::private().await.unwrap();
    let admin = pg.fresh_database().await.unwrap();
    let database = url::Url::parse(&admin)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let url = pg.password_role(ROLE, FIRST, &database).await.unwrap();
    assert!(!url.contains("sslcert") && !url.contains(FIRST), "{url}");
    let source = Rotating::new(FIRST);
    let options = StoreOptions {
        max_connections: 1,
        acquire_timeout: Duration::from_secs(5),
    };
    let login = DynamicLogin::new(source.clone())
        .refresh_every(refresh)
        .retry_after(Duration::from_millis(20));
    let store = Store::connect_with_login(&url, &options, &Password::new(FIRST.into()), login)
        .await
        .unwrap();
    Fixture {
        pg,
        admin,
        url,
        source,
        store,
    }
}

async fn admin_sql(admin: &str, sql: &str) {
    let mut conn = PgConnection::connect(admin).await.unwrap();
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// The server processes of the role's sessions.
async fn backends(admin: &str) -> Vec<i32> {
    let mut conn = PgConnection::connect(admin).await.unwrap();
    let pids =
        sqlx::query_scalar("select pid from pg_stat_activity where usename = $1 order by pid")
            .bind(ROLE)
            .fetch_all(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    pids
}

/// A login as the role with `password`, outside the pool.
async fn login(url: &str, password: &str) -> Result<PgConnection, sqlx::Error> {
    let options = PgConnectOptions::from_str(url).unwrap().password(password);
    PgConnection::connect_with(&options).await
}

/// Polls `store.ping()` until it succeeds on a session other than `old`; returns its pid.
async fn new_session(store: &Store, admin: &str, old: i32) -> i32 {
    let deadline = Instant::now() + BOUND;
    loop {
        if store.ping().await.is_ok() {
            if let [pid] = backends(admin).await[..] {
                if pid != old {
                    return pid;
                }
            }
        }
        assert!(Instant::now() < deadline, "no new session within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn new_connections_log_in_with_the_refreshed_password_and_the_old_one_is_refused() {
    let f = fixture(Duration::from_millis(50)).await;
    f.store.ping().await.unwrap();
    let [first] = backends(&f.admin).await[..] else {
        panic!("expected one session of {ROLE}")
    };

    // A new token: the database now accepts only SECOND, and the source hands it out.
    admin_sql(&f.admin, &format!("alter role {ROLE} password '{SECOND}'")).await;
    f.source.set(SECOND);
    let calls_at_rotation = f.source.calls.load(Ordering::SeqCst);

    // The old token no longer logs in, and the refusal does not repeat it.
    let refused = login(&f.url, FIRST)
        .await
        .expect_err("the old password still logs in");
    for text in [refused.to_string(), format!("{refused:?}")] {
        assert!(text.contains("password authentication failed"), "{text}");
        assert!(!text.contains(FIRST) && !text.contains("X-Amz"), "{text}");
    }
    let explained = confmgr_store::explain_connect_error(&f.url, &refused);
    assert!(!explained.contains("X-Amz"), "{explained}");
    login(&f.url, SECOND).await.unwrap().close().await.unwrap();

    // The session opened with the old token keeps working: PostgreSQL checks a password only
    // at login.
    f.store.ping().await.unwrap();
    assert_eq!(backends(&f.admin).await, vec![first]);

    // The pool must open a new connection; it can only log in with SECOND.
    admin_sql(&f.admin, &format!("select pg_terminate_backend({first})")).await;
    let second = new_session(&f.store, &f.admin, first).await;
    assert_ne!(second, first);
    assert!(f.source.calls.load(Ordering::SeqCst) > calls_at_rotation);
    f.store.close().await;
    drop(f.pg);
}

#[tokio::test]
async fn a_failed_refresh_is_retried_while_open_connections_keep_working() {
    let f = fixture(Duration::from_millis(50)).await;
    f.store.ping().await.unwrap();
    let [first] = backends(&f.admin).await[..] else {
        panic!("expected one session of {ROLE}")
    };

    f.source.failing.store(true, Ordering::SeqCst);
    let failing_from = f.source.calls.load(Ordering::SeqCst);
    // Retried, not given up: several more calls come while it fails.
    let deadline = Instant::now() + BOUND;
    while f.source.calls.load(Ordering::SeqCst) < failing_from + 3 {
        assert!(Instant::now() < deadline, "the refresh was not retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f.store.ping().await.unwrap();
    assert_eq!(backends(&f.admin).await, vec![first]);

    // Rotated while the source fails: a new connection needs the refresh to recover.
    admin_sql(&f.admin, &format!("alter role {ROLE} password '{SECOND}'")).await;
    f.source.set(SECOND);
    admin_sql(&f.admin, &format!("select pg_terminate_backend({first})")).await;
    f.source.failing.store(false, Ordering::SeqCst);
    let second = new_session(&f.store, &f.admin, first).await;
    assert_ne!(second, first);
    f.store.close().await;
}

#[tokio::test]
async fn a_wrong_password_at_start_fails_without_repeating_it() {
    let pg = TestPostgres::private().await.unwrap();
    let admin = pg.fresh_database().await.unwrap();
    let database = url::Url::parse(&admin)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let url = pg.password_role(ROLE, SECOND, &database).await.unwrap();
    let source = Rotating::new(FIRST);
    let error = Store::connect_with_login(
        &url,
        &StoreOptions::default(),
        &Password::new(FIRST.into()),
        DynamicLogin::new(source),
    )
    .await
    .expect_err("a wrong password logged in");
    let sqlx_error = match &error {
        confmgr_store::StoreError::Database(e) | confmgr_store::StoreError::Unavailable(e) => e,
        other => panic!("unexpected {other:?}"),
    };
    let texts = [
        error.to_string(),
        format!("{error:?}"),
        confmgr_store::explain_connect_error(&url, sqlx_error),
    ];
    assert!(
        texts[2].contains("password authentication failed"),
        "{texts:?}"
    );
    for text in texts {
        assert!(!text.contains("X-Amz") && !text.contains("1111"), "{text}");
    }
}

/// While the database is down the circuit opens; its recovery probes must log in with the
/// current password, not the one the store started with, or it would never close again.
#[tokio::test]
async fn the_circuit_recovers_with_the_refreshed_password_after_an_outage() {
    let mut f = fixture(Duration::from_millis(50)).await;
    f.store.ping().await.unwrap();
    admin_sql(&f.admin, &format!("alter role {ROLE} password '{SECOND}'")).await;
    let at_rotation = f.source.calls.load(Ordering::SeqCst);
    f.source.set(SECOND);
    // Two more calls: the first one after the rotation has been put in place.
    let deadline = Instant::now() + BOUND;
    while f.source.calls.load(Ordering::SeqCst) < at_rotation + 2 {
        assert!(Instant::now() < deadline, "no refresh after the rotation");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    f.pg.stop().await.unwrap();
    let deadline = Instant::now() + BOUND;
    while !f.store.circuit_stats().is_some_and(|c| c.open) {
        assert!(Instant::now() < deadline, "the circuit did not open");
        let _ = f.store.ping().await;
    }
    f.pg.start().await.unwrap();
    let deadline = Instant::now() + BOUND;
    while f.store.circuit_stats().is_some_and(|c| c.open) || f.store.ping().await.is_err() {
        assert!(Instant::now() < deadline, "no recovery after the restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(f.store.circuit_stats().map(|c| c.opened), Some(1));
    f.store.close().await;
}
