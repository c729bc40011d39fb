use confmgr_store::{Backend, Store, StoreOptions};
use confmgr_testkit::TestPostgres;

/// A migrated store on each backend: a fresh SQLite file and a fresh PostgreSQL database
/// reached over mutual TLS. Test bodies loop over `stores` so both run the same assertions.
pub struct Backends {
    pub stores: Vec<Store>,
    _dir: tempfile::TempDir,
}

impl Backends {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let sqlite_url = format!("sqlite://{}", dir.path().join("store.db").display());
        let pg = TestPostgres::shared().await.unwrap();
        let pg_url = pg.fresh_database().await.unwrap();
        let mut stores = Vec::new();
        for url in [sqlite_url, pg_url] {
            let store = Store::connect(&url, &StoreOptions::default())
                .await
                .unwrap();
            store.migrate().await.unwrap();
            stores.push(store);
        }
        assert_eq!(stores[0].backend(), Backend::Sqlite);
        assert_eq!(stores[1].backend(), Backend::Postgres);
        Self { stores, _dir: dir }
    }
}
