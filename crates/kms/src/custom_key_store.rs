//! Custom key stores (AWS's `AWS_CLOUDHSM` type) backed by PKCS#11 tokens the operator
//! configured ([`HsmClusters`]): the six store operations, the connection state this process
//! keeps for each store, and sealing and opening with keys whose material lives in a token.
//!
//! What is stored ([`CustomKeyStoreRecord`]): name, token id, trust anchor, the user PIN
//! wrapped by the root key under a binding of its own, and whether the store should be
//! connected (so a restarted service reconnects it). What is not: the connection itself, a
//! logged-in [`HsmSession`] held in memory. A key in a store has versions whose stored bytes
//! are the id of a key object in the token, never material; every Encrypt, Decrypt and
//! GenerateDataKey with it runs in the token through the session, and nothing of the key is
//! cached outside the token.

use std::collections::HashMap;
use std::sync::Arc;

use coffer_core::{AccountId, EncryptionContext, KeyId};
use coffer_crypto::SecretBytes;
use coffer_keys::blob::{self, Blob};
use coffer_keys::hsm::{HSM_NONCE_LEN, HSM_TAG_LEN};
use coffer_keys::{
    HsmClusters, HsmError, HsmKeyRef, HsmSession, KeyRecord, KeyState, VersionId, WrappedVersion,
};
use coffer_store::{CustomKeyStoreRecord, Txn};
use parking_lot::{Mutex, RwLock};

use crate::admission::Gate;
use crate::audit::Call;
use crate::model::*;
use crate::validate::field_error;
use crate::{Caller, Error, Kms};

/// Custom key stores per account (AWS's quota: 10 per account and Region).
pub const MAX_CUSTOM_KEY_STORES: usize = 10;

/// The first byte of a token-backed version's stored bytes: what follows is the key object's
/// id in the token (root-wrapped material starts with 0x01).
const TOKEN_REF_V1: u8 = 0x80;

/// The binding under which the root key wraps a store's PIN: this label and the store id.
const PIN_BINDING: &[u8] = b"coffer/cks-pin/v1";

/// One store's connection, as this process holds it.
#[derive(Clone)]
struct Connection {
    state: ConnectionState,
    error: Option<ConnectionErrorCode>,
    session: Option<Arc<dyn HsmSession>>,
}

/// The configured tokens and each store's connection.
#[derive(Default)]
pub(crate) struct Runtime {
    clusters: Option<Arc<dyn HsmClusters>>,
    connections: RwLock<HashMap<String, Connection>>,
    /// Serializes connection changes (connect, disconnect, update, delete) so two cannot
    /// interleave on one store.
    changes: Mutex<()>,
}

impl Runtime {
    pub(crate) fn new(clusters: Option<Arc<dyn HsmClusters>>) -> Self {
        Self {
            clusters,
            ..Self::default()
        }
    }

    /// The logged-in session of a CONNECTED store.
    pub(crate) fn session(&self, store_id: &str) -> Option<Arc<dyn HsmSession>> {
        let c = self.connections.read();
        c.get(store_id)
            .filter(|c| c.state == ConnectionState::Connected)
            .and_then(|c| c.session.clone())
    }

    fn state_of(
        &self,
        rec: &CustomKeyStoreRecord,
    ) -> (ConnectionState, Option<ConnectionErrorCode>) {
        match self.connections.read().get(&rec.id) {
            Some(c) => (c.state, c.error),
            None => (ConnectionState::Disconnected, None),
        }
    }

    fn set(&self, id: &str, conn: Connection) {
        let old = self.connections.write().insert(id.to_owned(), conn);
        if let Some(session) = old.and_then(|o| o.session) {
            session.close();
        }
    }

    fn forget(&self, id: &str) {
        let old = self.connections.write().remove(id);
        if let Some(session) = old.and_then(|o| o.session) {
            session.close();
        }
    }
}

/// The code DescribeCustomKeyStores shows for a failed connection.
fn error_code(e: &HsmError) -> ConnectionErrorCode {
    match e {
        HsmError::InvalidCredentials => ConnectionErrorCode::InvalidCredentials,
        HsmError::UserLocked => ConnectionErrorCode::UserLockedOut,
        HsmError::ClusterNotFound(_) => ConnectionErrorCode::ClusterNotFound,
        HsmError::Unavailable(_) => ConnectionErrorCode::NetworkErrors,
        _ => ConnectionErrorCode::InternalError,
    }
}

fn pin_binding(store_id: &str) -> Vec<u8> {
    [PIN_BINDING, store_id.as_bytes()].concat()
}

/// A token-backed version: the key object's id in place of wrapped material.
pub(crate) fn token_version(
    id: VersionId,
    key: &HsmKeyRef,
    created: std::time::SystemTime,
) -> WrappedVersion {
    let mut wrapped = Vec::with_capacity(1 + key.0.len());
    wrapped.push(TOKEN_REF_V1);
    wrapped.extend_from_slice(&key.0);
    WrappedVersion {
        id,
        wrapped,
        created,
        rotation_type: None,
    }
}

/// The key object a token-backed version names.
pub(crate) fn token_ref(v: &WrappedVersion) -> Result<HsmKeyRef, Error> {
    match v.wrapped.split_first() {
        Some((&TOKEN_REF_V1, id)) if !id.is_empty() => Ok(HsmKeyRef(id.to_vec())),
        _ => Err(Error::internal(format!(
            "version {} is not a token key reference",
            v.id
        ))),
    }
}

/// A key in a custom key store as the cache holds it: which store, and the key object of each
/// version. No material.
pub(crate) struct TokenKey {
    pub(crate) store_id: String,
    versions: HashMap<VersionId, HsmKeyRef>,
    current: VersionId,
}

impl TokenKey {
    pub(crate) fn new(
        store_id: String,
        versions: &[WrappedVersion],
        current: VersionId,
    ) -> Result<Self, Error> {
        let versions = versions
            .iter()
            .map(|v| Ok((v.id, token_ref(v)?)))
            .collect::<Result<HashMap<_, _>, Error>>()?;
        if !versions.contains_key(&current) {
            return Err(Error::internal("a token key without its current version"));
        }
        Ok(Self {
            store_id,
            versions,
            current,
        })
    }
}

impl Kms {
    /// Charges the store's own request quota (AWS's CloudHSM key store quota, shared by every
    /// use of the store's keys).
    fn charge_store(&self, store_id: &str) -> Result<(), Error> {
        self.quotas
            .check_scoped_at(
                store_id,
                coffer_quota::QuotaClass::CloudHsmKeyStore,
                self.clock.now(),
            )
            .map_err(|t| Error::throttling(t.to_string()))
    }
}

/// The token failure of a cryptographic operation as the caller sees it.
fn token_failure(arn: &str, e: HsmError) -> Error {
    match e {
        HsmError::Authentication => Error::invalid_ciphertext(""),
        HsmError::Unavailable(_) => Error::dependency_timeout(format!(
            "The custom key store of {arn} could not reach its token; retry later."
        )),
        other => Error::internal(other),
    }
}

fn validate_name(field: &str, name: &str) -> Result<(), Error> {
    if name.is_empty() || name.chars().count() > 256 {
        return Err(field_error(
            field,
            "Member must have length between 1 and 256",
        ));
    }
    Ok(())
}

fn validate_store_id(id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > 64 {
        return Err(field_error(
            "customKeyStoreId",
            "Member must have length between 1 and 64",
        ));
    }
    Ok(())
}

fn validate_cluster_id(id: &str) -> Result<(), Error> {
    if !(19..=24).contains(&id.chars().count()) {
        return Err(field_error(
            "cloudHsmClusterId",
            "Member must have length between 19 and 24",
        ));
    }
    Ok(())
}

/// The PIN's length as AWS bounds KeyStorePassword (7–32); the message never shows it.
fn validate_password(p: &SecretBytes) -> Result<(), Error> {
    let n = std::str::from_utf8(p.expose()).map_or(0, |s| s.chars().count());
    if !(7..=32).contains(&n) {
        return Err(field_error(
            "keyStorePassword",
            "Member must have length between 7 and 32",
        ));
    }
    Ok(())
}

/// A change to one store under way: the guard serializing store changes, the open
/// transaction, the store as read in it.
type StoreChange<'k> = (
    parking_lot::MutexGuard<'k, ()>,
    Box<dyn Txn + 'k>,
    CustomKeyStoreRecord,
);

impl Kms {
    fn store_not_found(&self, id: &str) -> Error {
        Error::store_not_found(format!(
            "Custom key store '{id}' does not exist in this account and Region."
        ))
    }

    /// The caller's account's store with this id (another account's is not found).
    fn own_store(
        &self,
        txn: &mut dyn Txn,
        account: &AccountId,
        id: &str,
    ) -> Result<CustomKeyStoreRecord, Error> {
        txn.custom_key_stores(Some(account))?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| self.store_not_found(id))
    }

    /// The start every change to one existing store shares: the id checked, the caller
    /// admitted, store changes serialized (the guard is returned: hold it to the end), a
    /// transaction begun and the caller's own store read in it.
    fn begin_store_change<'k>(
        &'k self,
        caller: &Caller,
        store_id: &str,
        call: &Call<'_>,
    ) -> Result<StoreChange<'k>, Error> {
        validate_store_id(store_id)?;
        self.admit_without_key(call, caller, Gate::default())?;
        let guard = self.cks.changes.lock();
        let mut txn = self.store.begin()?;
        let rec = self.own_store(&mut *txn, &caller.account, store_id)?;
        Ok((guard, txn, rec))
    }

    /// Whether any key of the account lives in the store (keys pending deletion count).
    fn store_has_keys(
        &self,
        txn: &mut dyn Txn,
        account: &AccountId,
        id: &str,
    ) -> Result<bool, Error> {
        let mut after: Option<KeyId> = None;
        loop {
            let page = txn.list_keys(account, after.as_ref(), 1000)?;
            if page
                .iter()
                .any(|k| k.custom_key_store_id.as_deref() == Some(id))
            {
                return Ok(true);
            }
            match page.last() {
                Some(last) if page.len() == 1000 => after = Some(last.key_id),
                _ => return Ok(false),
            }
        }
    }

    /// Connects a store: unwraps its PIN and logs in to its token. A failure leaves the store
    /// FAILED with the reason's code, as AWS reports a connection that could not be made.
    fn connect_store(&self, rec: &CustomKeyStoreRecord) -> Result<bool, Error> {
        let failed = |code| Connection {
            state: ConnectionState::Failed,
            error: Some(code),
            session: None,
        };
        let cluster = self
            .cks
            .clusters
            .as_ref()
            .and_then(|c| c.cluster(&rec.cluster_id));
        let Some(cluster) = cluster else {
            self.cks
                .set(&rec.id, failed(ConnectionErrorCode::ClusterNotFound));
            return Ok(false);
        };
        let pin = self
            .root
            .unwrap_secret(&pin_binding(&rec.id), &rec.wrapped_password)
            .map_err(Error::internal)?;
        match cluster.connect(&pin) {
            Ok(session) => {
                self.cks.set(
                    &rec.id,
                    Connection {
                        state: ConnectionState::Connected,
                        error: None,
                        session: Some(session),
                    },
                );
                Ok(true)
            }
            Err(e) => {
                self.cks.set(&rec.id, failed(error_code(&e)));
                Ok(false)
            }
        }
    }

    /// Reconnects every store that was connected when the service last stopped (called once
    /// by the builder). A store that cannot connect is left FAILED.
    pub(crate) fn reconnect_custom_key_stores(&self) -> Result<(), Error> {
        if self.cks.clusters.is_none() {
            return Ok(());
        }
        let stores = self.store.begin()?.custom_key_stores(None)?;
        for rec in stores.iter().filter(|r| r.connect) {
            self.connect_store(rec)?;
        }
        Ok(())
    }

    /// The key state a key shows: `Unavailable` while its custom key store is not connected
    /// (for a key that is enabled or disabled; a key pending deletion stays so).
    pub(crate) fn effective_state(&self, r: &KeyRecord) -> KeyState {
        match (&r.custom_key_store_id, r.state) {
            (Some(store), KeyState::Enabled | KeyState::Disabled)
                if self.cks.session(store).is_none() =>
            {
                KeyState::Unavailable
            }
            (_, s) => s,
        }
    }

    /// The cluster id of a store, for DescribeKey.
    pub(crate) fn cluster_of_store(&self, store_id: &str) -> Option<String> {
        self.store
            .begin()
            .ok()?
            .custom_key_stores(None)
            .ok()?
            .into_iter()
            .find(|r| r.id == store_id)
            .map(|r| r.cluster_id)
    }

    /// CreateKey in a custom key store: the store must be the caller's and CONNECTED; an
    /// AES-256 key object is generated in its token and named by the first version.
    pub(crate) fn create_token_key(
        &self,
        account: &AccountId,
        store_id: &str,
        key_id: &KeyId,
        now: std::time::SystemTime,
    ) -> Result<(WrappedVersion, String), Error> {
        let rec = self.own_store(&mut *self.store.begin()?, account, store_id)?;
        let Some(session) = self.cks.session(store_id) else {
            return Err(Error::store_invalid_state(format!(
                "Custom key store '{store_id}' is not connected. Connect it with ConnectCustomKeyStore and try again."
            )));
        };
        self.charge_store(store_id)?;
        let label = format!("coffer {key_id}");
        let object = session
            .generate_aes_key(&label)
            .map_err(|e| token_failure(&rec.id, e))?;
        let version = VersionId::generate(self.rng.as_ref()).map_err(Error::internal)?;
        Ok((token_version(version, &object, now), rec.cluster_id))
    }

    /// Destroys a deleted key's objects in its token, when its store is connected (best
    /// effort, as AWS: a store disconnected at deletion leaves them for the operator).
    pub(crate) fn destroy_token_objects(&self, store_id: &str, versions: &[WrappedVersion]) {
        let Some(session) = self.cks.session(store_id) else {
            return;
        };
        for v in versions {
            if let Ok(object) = token_ref(v) {
                // Already gone is as good as destroyed; anything else stays for the operator.
                let _ = session.destroy(&object);
            }
        }
    }

    /// Seals `plaintext` in the token under the key's current version: a format 2 blob.
    pub(crate) fn token_seal(
        &self,
        arn: &str,
        key_id: &KeyId,
        token: &TokenKey,
        plaintext: &[u8],
        ctx: &EncryptionContext,
    ) -> Result<Vec<u8>, Error> {
        let session = self
            .cks
            .session(&token.store_id)
            .ok_or_else(|| Error::invalid_state(format!("{arn} is unavailable.")))?;
        self.charge_store(&token.store_id)?;
        let object = token
            .versions
            .get(&token.current)
            .ok_or_else(|| Error::internal("a token key without its current version"))?;
        let mut nonce = [0u8; HSM_NONCE_LEN];
        self.rng.fill_public(&mut nonce)?;
        let mut out = Vec::with_capacity(blob::TOKEN_HEADER_LEN + plaintext.len() + HSM_TAG_LEN);
        blob::write_token_header(&mut out, key_id, &token.current, &nonce);
        let aad = aad(&out, ctx)?;
        let sealed = session
            .seal(object, &nonce, &aad, plaintext)
            .map_err(|e| token_failure(arn, e))?;
        if sealed.len() != plaintext.len() + HSM_TAG_LEN {
            return Err(Error::internal(
                "the token returned a ciphertext of the wrong length",
            ));
        }
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a format 2 blob in the token. Every failure of the blob itself is
    /// InvalidCiphertextException.
    pub(crate) fn token_open(
        &self,
        arn: &str,
        token: &TokenKey,
        parsed: &Blob<'_>,
        ctx: &EncryptionContext,
    ) -> Result<SecretBytes, Error> {
        if parsed.format != blob::FORMAT_TOKEN {
            return Err(Error::invalid_ciphertext(""));
        }
        let object = token
            .versions
            .get(&parsed.version)
            .ok_or_else(|| Error::invalid_ciphertext(""))?;
        let session = self
            .cks
            .session(&token.store_id)
            .ok_or_else(|| Error::invalid_state(format!("{arn} is unavailable.")))?;
        self.charge_store(&token.store_id)?;
        let aad = aad(parsed.header, ctx).map_err(|_| Error::invalid_ciphertext(""))?;
        session
            .open(
                object,
                parsed.nonce.as_bytes(),
                &aad,
                parsed.ciphertext_and_tag,
            )
            .map_err(|e| token_failure(arn, e))
    }

    // ----------------------------------------------------------------------------------------
    // The operations
    // ----------------------------------------------------------------------------------------

    /// Creates a custom key store over a configured token.
    pub(crate) fn create_custom_key_store_op(
        &self,
        caller: &Caller,
        req: CreateCustomKeyStoreRequest,
        call: &Call<'_>,
    ) -> Result<CreateCustomKeyStoreResponse, Error> {
        validate_name("customKeyStoreName", &req.custom_key_store_name)?;
        if req.custom_key_store_type == Some(CustomKeyStoreType::ExternalKeyStore) {
            return Err(Error::unsupported(
                "External key stores (EXTERNAL_KEY_STORE) are not supported by coffer; custom key stores are of type AWS_CLOUDHSM, backed by PKCS#11 tokens.",
            ));
        }
        let missing = |field: &str| {
            Error::validation(format!(
                "1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null"
            ))
        };
        let cluster_id = req
            .cloud_hsm_cluster_id
            .as_deref()
            .ok_or_else(|| missing("cloudHsmClusterId"))?;
        validate_cluster_id(cluster_id)?;
        let anchor = req
            .trust_anchor_certificate
            .as_deref()
            .ok_or_else(|| missing("trustAnchorCertificate"))?;
        if anchor.is_empty() || anchor.chars().count() > 5000 {
            return Err(field_error(
                "trustAnchorCertificate",
                "Member must have length between 1 and 5000",
            ));
        }
        let password = req
            .key_store_password
            .as_ref()
            .ok_or_else(|| missing("keyStorePassword"))?;
        validate_password(password)?;
        self.admit_without_key(call, caller, Gate::default())?;

        let cluster_not_found = || {
            Error::cluster_not_found(format!(
                "No CloudHSM cluster (PKCS#11 token) with id '{cluster_id}' is configured in this service."
            ))
        };
        let cluster = self
            .cks
            .clusters
            .as_ref()
            .and_then(|c| c.cluster(cluster_id))
            .ok_or_else(cluster_not_found)?;
        if !cluster.trust_anchor_matches(anchor) {
            return Err(Error::incorrect_trust_anchor(
                "The trust anchor certificate in the request is not the trust anchor certificate of the specified CloudHSM cluster.",
            ));
        }
        let _changes = self.cks.changes.lock();
        let mut txn = self.store.begin()?;
        let all = txn.custom_key_stores(None)?;
        let mine: Vec<_> = all.iter().filter(|r| r.account == caller.account).collect();
        if mine.len() >= MAX_CUSTOM_KEY_STORES {
            return Err(Error::limit_exceeded(format!(
                "The account has reached its limit of {MAX_CUSTOM_KEY_STORES} custom key stores."
            )));
        }
        if mine.iter().any(|r| r.name == req.custom_key_store_name) {
            return Err(Error::store_name_in_use(format!(
                "A custom key store named '{}' already exists in this account.",
                req.custom_key_store_name
            )));
        }
        if all.iter().any(|r| r.cluster_id == cluster_id) {
            return Err(Error::cluster_in_use(format!(
                "The CloudHSM cluster '{cluster_id}' is already associated with a custom key store."
            )));
        }
        let mut raw = [0u8; 9];
        self.rng.fill_public(&mut raw)?;
        let mut id = coffer_crypto::hex::encode(&raw);
        id.truncate(17);
        let id = format!("cks-{id}");
        let wrapped_password = self
            .root
            .wrap_secret(&pin_binding(&id), password)
            .map_err(Error::internal)?;
        let rec = CustomKeyStoreRecord {
            id: id.clone(),
            account: caller.account,
            name: req.custom_key_store_name,
            cluster_id: cluster_id.to_owned(),
            trust_anchor: anchor.to_owned(),
            wrapped_password,
            creation_date: self.clock.now(),
            connect: false,
        };
        txn.insert_custom_key_store(&rec)?;
        call.before_commit()?;
        txn.commit()?;
        Ok(CreateCustomKeyStoreResponse {
            custom_key_store_id: id,
        })
    }

    /// Connects a store to its token (a no-op on a CONNECTED store). The call succeeds even
    /// when the token refuses; DescribeCustomKeyStores then shows FAILED and why.
    pub(crate) fn connect_custom_key_store_op(
        &self,
        caller: &Caller,
        req: CustomKeyStoreIdRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let (_changes, read, mut rec) =
            self.begin_store_change(caller, &req.custom_key_store_id, call)?;
        // Connecting talks to the token: no transaction stays open meanwhile.
        drop(read);
        match self.cks.state_of(&rec).0 {
            ConnectionState::Connected => return Ok(()),
            s @ (ConnectionState::Failed | ConnectionState::Disconnecting) => {
                return Err(Error::store_invalid_state(format!(
                    "Custom key store '{}' is {s}: disconnect it, then connect it again.",
                    rec.id
                )))
            }
            _ => {}
        }
        let connected = self.connect_store(&rec)?;
        if connected && !rec.connect {
            rec.connect = true;
            let mut txn = self.store.begin()?;
            txn.update_custom_key_store(&rec)?;
            call.before_commit()?;
            if let Err(e) = txn.commit() {
                self.cks.forget(&rec.id);
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Disconnects a store: its keys become Unavailable until it is connected again.
    pub(crate) fn disconnect_custom_key_store_op(
        &self,
        caller: &Caller,
        req: CustomKeyStoreIdRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let (_changes, mut txn, mut rec) =
            self.begin_store_change(caller, &req.custom_key_store_id, call)?;
        if let s @ (ConnectionState::Disconnected | ConnectionState::Disconnecting) =
            self.cks.state_of(&rec).0
        {
            return Err(Error::store_invalid_state(format!(
                "Custom key store '{}' is already {s}.",
                rec.id
            )));
        }
        rec.connect = false;
        txn.update_custom_key_store(&rec)?;
        call.before_commit()?;
        txn.commit()?;
        self.cks.set(
            &rec.id,
            Connection {
                state: ConnectionState::Disconnected,
                error: None,
                session: None,
            },
        );
        Ok(())
    }

    /// Deletes a disconnected store that holds no keys. The token and its objects are left
    /// as they are.
    pub(crate) fn delete_custom_key_store_op(
        &self,
        caller: &Caller,
        req: CustomKeyStoreIdRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let (_changes, mut txn, rec) =
            self.begin_store_change(caller, &req.custom_key_store_id, call)?;
        let state = self.cks.state_of(&rec).0;
        if state != ConnectionState::Disconnected {
            return Err(Error::store_invalid_state(format!(
                "Custom key store '{}' is {state}: disconnect it before deleting it.",
                rec.id
            )));
        }
        if self.store_has_keys(&mut *txn, &caller.account, &rec.id)? {
            return Err(Error::store_has_keys(format!(
                "Custom key store '{}' contains KMS keys: schedule their deletion, and delete the store once they are deleted.",
                rec.id
            )));
        }
        txn.delete_custom_key_store(&rec.id)?;
        call.before_commit()?;
        txn.commit()?;
        self.cks.forget(&rec.id);
        Ok(())
    }

    /// The caller's account's stores (or the one named by id or name), ordered by id.
    pub(crate) fn describe_custom_key_stores_op(
        &self,
        caller: &Caller,
        req: DescribeCustomKeyStoresRequest,
        call: &Call<'_>,
    ) -> Result<DescribeCustomKeyStoresResponse, Error> {
        let limit = crate::marker::limit(req.limit, 1000, 1000)?;
        if let Some(id) = &req.custom_key_store_id {
            validate_store_id(id)?;
        }
        if let Some(name) = &req.custom_key_store_name {
            validate_name("customKeyStoreName", name)?;
        }
        self.admit_without_key(call, caller, Gate::default())?;
        let scope = [b"cks:".as_slice(), caller.account.as_str().as_bytes()].concat();
        let after = self.markers.read_text(&scope, req.marker.as_deref())?;
        let mut page: Vec<CustomKeyStoreRecord> = self
            .store
            .begin()?
            .custom_key_stores(Some(&caller.account))?
            .into_iter()
            .filter(|r| {
                req.custom_key_store_id
                    .as_ref()
                    .is_none_or(|id| *id == r.id)
            })
            .filter(|r| {
                req.custom_key_store_name
                    .as_ref()
                    .is_none_or(|n| *n == r.name)
            })
            .collect();
        if page.is_empty() {
            if let Some(named) = req
                .custom_key_store_id
                .as_ref()
                .or(req.custom_key_store_name.as_ref())
            {
                return Err(self.store_not_found(named));
            }
        }
        page.retain(|r| after.as_ref().is_none_or(|a| r.id.as_str() > a.as_str()));
        page.truncate(limit + 1);
        let (next_marker, truncated) = self
            .markers
            .page(&scope, &mut page, limit, |r| r.id.as_bytes());
        Ok(DescribeCustomKeyStoresResponse {
            custom_key_stores: page
                .iter()
                .map(|r| {
                    let (connection_state, connection_error_code) = self.cks.state_of(r);
                    CustomKeyStoresListEntry {
                        custom_key_store_id: r.id.clone(),
                        custom_key_store_name: r.name.clone(),
                        cloud_hsm_cluster_id: r.cluster_id.clone(),
                        trust_anchor_certificate: r.trust_anchor.clone(),
                        connection_state,
                        connection_error_code,
                        creation_date: r.creation_date,
                        custom_key_store_type: CustomKeyStoreType::AwsCloudHsm,
                    }
                })
                .collect(),
            next_marker,
            truncated,
        })
    }

    /// Renames a store (in any state), or changes its PIN or token (only while disconnected).
    pub(crate) fn update_custom_key_store_op(
        &self,
        caller: &Caller,
        req: UpdateCustomKeyStoreRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        validate_store_id(&req.custom_key_store_id)?;
        if let Some(name) = &req.new_custom_key_store_name {
            validate_name("newCustomKeyStoreName", name)?;
        }
        if let Some(p) = &req.key_store_password {
            validate_password(p)?;
        }
        if let Some(c) = &req.cloud_hsm_cluster_id {
            validate_cluster_id(c)?;
        }
        self.admit_without_key(call, caller, Gate::default())?;
        let _changes = self.cks.changes.lock();
        let mut txn = self.store.begin()?;
        let all = txn.custom_key_stores(None)?;
        let mut rec = all
            .iter()
            .find(|r| r.account == caller.account && r.id == req.custom_key_store_id)
            .cloned()
            .ok_or_else(|| self.store_not_found(&req.custom_key_store_id))?;
        let state = self.cks.state_of(&rec).0;
        if (req.key_store_password.is_some() || req.cloud_hsm_cluster_id.is_some())
            && state != ConnectionState::Disconnected
        {
            return Err(Error::store_invalid_state(format!(
                "Custom key store '{}' is {state}: only its name can change while it is not disconnected.",
                rec.id
            )));
        }
        if let Some(name) = req.new_custom_key_store_name {
            if all
                .iter()
                .any(|r| r.account == caller.account && r.id != rec.id && r.name == name)
            {
                return Err(Error::store_name_in_use(format!(
                    "A custom key store named '{name}' already exists in this account."
                )));
            }
            rec.name = name;
        }
        if let Some(cluster_id) = req.cloud_hsm_cluster_id {
            if cluster_id != rec.cluster_id {
                if self
                    .cks
                    .clusters
                    .as_ref()
                    .and_then(|c| c.cluster(&cluster_id))
                    .is_none()
                {
                    return Err(Error::cluster_not_found(format!(
                        "No CloudHSM cluster (PKCS#11 token) with id '{cluster_id}' is configured in this service."
                    )));
                }
                if all.iter().any(|r| r.cluster_id == cluster_id) {
                    return Err(Error::cluster_in_use(format!(
                        "The CloudHSM cluster '{cluster_id}' is already associated with a custom key store."
                    )));
                }
                // The store's keys are objects in its token; another token does not hold them.
                if self.store_has_keys(&mut *txn, &caller.account, &rec.id)? {
                    return Err(Error::cluster_not_related(format!(
                        "The CloudHSM cluster '{cluster_id}' does not hold the key objects of custom key store '{}'.",
                        rec.id
                    )));
                }
                rec.cluster_id = cluster_id;
            }
        }
        if let Some(password) = &req.key_store_password {
            rec.wrapped_password = self
                .root
                .wrap_secret(&pin_binding(&rec.id), password)
                .map_err(Error::internal)?;
        }
        txn.update_custom_key_store(&rec)?;
        call.before_commit()?;
        txn.commit()?;
        Ok(())
    }
}

/// A token blob's associated data: its header, then the context's canonical encoding.
fn aad(header: &[u8], ctx: &EncryptionContext) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; header.len() + ctx.canonical_len()];
    out[..header.len()].copy_from_slice(header);
    let n = ctx
        .write_canonical_into(&mut out[header.len()..])
        .map_err(|e| Error::validation(e.to_string()))?;
    out.truncate(header.len() + n);
    Ok(out)
}
