//! Vault's `auth/cert/login` for ConfMgr clients: a client certificate that verified against
//! CONFMGR_TLS_CLIENT_CA logs in as the one client whose certificate patterns it matches.

use crate::audit;
use crate::client_cert::PresentedCert;
use crate::error::{Error, Result};
use crate::services::approle::client_token;
use crate::state::AccessSettings;
use confmgr_core::credentials;
use confmgr_core::net;
use confmgr_core::time::now_micros;
use confmgr_core::token::Token;
use confmgr_store::{ClientRecord, Store, TokenRecord};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// `presented` is `None` when the connection carried no certificate; `name` narrows the
/// login to one client, as Vault's `name` picks one cert role.
pub async fn login(
    store: &Store,
    access: &AccessSettings,
    presented: Option<&PresentedCert>,
    name: Option<&str>,
    address: IpAddr,
) -> Result<(Token, TokenRecord)> {
    let guard = &access.login_guard;
    let address_key = address.to_string();
    let guard_key = format!(
        "cert:{}",
        presented.map_or("none", |cert| cert.fingerprint.as_str())
    );
    guard.check(&guard_key, &address_key)?;
    let failed = |message: String| {
        guard.record_failure(&guard_key, &address_key);
        Error::Invalid(message)
    };

    let Some(cert) = presented else {
        return Err(failed(
            "no client certificate was presented: connect over HTTPS with a certificate issued by a CA in CONFMGR_TLS_CLIENT_CA".into(),
        ));
    };
    cert.verdict.clone().map_err(&failed)?;
    let name = name.map(credentials::validate_client_name).transpose()?;

    let mut tx = store.begin().await?;
    let candidates = tx.clients_with_cert_bindings().await?;
    tx.commit().await?;
    let matching: Vec<ClientRecord> = candidates
        .into_iter()
        .filter(|client| name.as_ref().is_none_or(|name| &client.name == name))
        .filter(|client| client.cert.matches(&cert.identity))
        .collect();
    let client = match matching.as_slice() {
        [] => {
            return Err(failed(format!(
                "no client accepts this certificate ({}){}",
                cert.identity.describe(),
                name.map(|n| format!(" under the name {n:?}"))
                    .unwrap_or_default()
            )))
        }
        [one] => one.clone(),
        several => {
            let names: Vec<&str> = several.iter().map(|c| c.name.as_str()).collect();
            return Err(Error::Invalid(format!(
                "this certificate matches several clients ({}): pass \"name\" to choose one",
                names.join(", ")
            )));
        }
    };
    if !net::allowed(&client.secret_id_bound_cidrs, address) {
        return Err(failed(format!(
            "client {:?} does not accept logins from {address}",
            client.name
        )));
    }

    let now = now_micros();
    let meta = BTreeMap::from([
        ("cert_name".to_owned(), client.name.clone()),
        (
            "common_name".to_owned(),
            cert.identity.common_name.clone().unwrap_or_default(),
        ),
        ("fingerprint".to_owned(), cert.fingerprint.clone()),
    ]);
    let (token, record) = client_token(
        access,
        &client,
        format!("cert-{}", client.name),
        meta,
        "auth/cert/login".to_owned(),
        now,
    );
    let mut tx = audit::begin_write(store).await?;
    tx.insert_token(&record).await?;
    audit::scope::note_actor(
        &record.display_name,
        &record.accessor,
        &client.issuer,
        &client.client_id,
    );
    tx.commit().await?;
    Ok((token, record))
}
