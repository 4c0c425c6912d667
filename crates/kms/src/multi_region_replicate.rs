//! ReplicateKey, and keeping a multi-Region key's replicas in step with its primary.
//!
//! Each region is its own `Kms` (its own store and root key). The primary's region reaches a
//! replica region through a [`ReplicaTransport`] (cofferd: SigV4-signed `CofferAdmin` calls with
//! a credential of the peer; tests: two `Kms` in one process). Making or updating a replica is
//! two calls to the replica region:
//!
//! 1. **offer** ([`Kms::replica_offer`]): the replica region checks the peer and the request,
//!    creates the replica record in state `Creating` if it is new, and answers a fresh RSA-3072
//!    public key with a token: the private key sealed (AES-256-GCM) under a key of its own,
//!    bound to the key id, valid ten minutes.
//! 2. **install** ([`Kms::install_replica`]): the primary's region draws a fresh AES-256 key,
//!    wraps it with RSA-OAEP-SHA-256 under the offered public key, seals each backing-key
//!    version's material under it (bound to key id and version id) and sends the package; the
//!    replica region opens the token, unwraps, adds the versions it lacks (wrapped under its own
//!    root key), makes the primary's current version current, and enables a `Creating` replica.
//!
//! Key material therefore never travels in plaintext, even over plain HTTP on loopback.
//!
//! Changes a replica must learn after ReplicateKey (a rotation, another replica) are recorded
//! on the primary's record as a *pending sync* per replica region before the change commits,
//! pushed right after, and retried by maintenance until the replica region answers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use coffer_core::{AccountId, KeyId, Region};
use coffer_crypto::aead::{self, Nonce, NONCE_LEN};
use coffer_crypto::asym::{AsymmetricAlgorithm, KeyRole, OaepHash, PrivateKey};
use coffer_crypto::{SecretBytes, SymmetricKey};
use coffer_keys::{
    BackingKey, KeyRecord, KeySpec, KeyState, KeyUsage, MaterialKind, MultiRegion, Origin,
    RotationType, Tag, VersionId,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::admission::{Gate, Target};
use crate::audit::Call;
use crate::audit_shapes::{AuditParams, AuditResponse};
use crate::authz::{Access, Action};
use crate::model::*;
use crate::validate::{self, field_error};
use crate::{Caller, Error, IdentityDecision, IdentityRequest, Kms, Operation};

/// How long an offered wrapping key and its token are valid.
const OFFER_LIFETIME: Duration = Duration::from_secs(600);
const TOKEN_LABEL: &[u8] = b"coffer/replica-token/v1";
const SEAL_LABEL: &[u8] = b"coffer/replica/v1";
/// The identity-policy action a peer's credential needs in the replica region.
pub const ACCEPT_REPLICA_ACTION: &str = "coffer:AcceptReplica";

/// How the region of a primary key reaches the regions of its replicas. cofferd implements it
/// with SigV4-signed calls to its configured peers.
pub trait ReplicaTransport: Send + Sync {
    /// Step 1 in `region`: [`Kms::replica_offer`] there.
    fn offer(&self, region: &Region, request: &ReplicaOfferRequest) -> Result<ReplicaOffer, Error>;
    /// Step 2 in `region`: [`Kms::install_replica`] there.
    fn install(&self, region: &Region, package: &ReplicaPackage) -> Result<(), Error>;
    /// A change of the key set another region must apply: [`Kms::receive_notice`] there.
    fn notify(&self, region: &Region, notice: &MultiRegionNotice) -> Result<(), Error>;
}

/// A change of a multi-Region key set, sent from one of its regions to another.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum MultiRegionNotice {
    /// To the primary's region: the replica in `replica_region` is being deleted.
    ReplicaDeleted {
        /// The multi-Region key id.
        key_id: KeyId,
        /// The owning account.
        account: AccountId,
        /// The region of the replica deleted.
        replica_region: Region,
    },
    /// To a replica's region (UpdatePrimaryRegion): this replica is now the primary, the
    /// former primary in `old_primary` a replica; `replica_regions` is the new set's replicas.
    Promote {
        /// The multi-Region key id.
        key_id: KeyId,
        /// The owning account.
        account: AccountId,
        /// The former primary's region.
        old_primary: Region,
        /// The replicas of the new primary.
        replica_regions: Vec<Region>,
        /// The former primary's automatic rotation, which the new primary takes over.
        rotation: Option<coffer_keys::RotationSchedule>,
    },
}

/// What a new replica is made with (ReplicateKey's own members).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplicaAttributes {
    /// The replica's description.
    pub description: String,
    /// The replica's tags.
    pub tags: Vec<Tag>,
    /// The replica's key policy (the default key policy if absent).
    pub policy: Option<String>,
    /// Skips the lockout check of `policy`.
    pub bypass_policy_lockout_safety_check: bool,
    /// The principal that called ReplicateKey (the lockout check is made for it).
    pub principal: String,
}

/// Step 1 of making or updating a replica.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplicaOfferRequest {
    /// The multi-Region key id.
    pub key_id: KeyId,
    /// The owning account.
    pub account: AccountId,
    /// The primary's region.
    pub primary_region: Region,
    /// The key spec.
    pub key_spec: KeySpec,
    /// The key usage.
    pub key_usage: KeyUsage,
    /// Some for a new replica (ReplicateKey), None to bring an existing replica up to date.
    pub create: Option<ReplicaAttributes>,
}

/// The replica region's answer to step 1: a one-time RSA-3072 public key (DER
/// SubjectPublicKeyInfo) and the sealed token that goes back with the package.
#[derive(Clone, Serialize, Deserialize)]
pub struct ReplicaOffer {
    /// The wrapping public key.
    pub public_key: Vec<u8>,
    /// The sealed private key, opaque to the primary's region.
    pub token: Vec<u8>,
}

impl fmt::Debug for ReplicaOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicaOffer").finish_non_exhaustive()
    }
}

/// One backing-key version, sealed for the replica region.
#[derive(Clone, Serialize, Deserialize)]
pub struct SealedVersion {
    /// The version id (the same in every region).
    pub id: VersionId,
    /// When it was made.
    pub created: SystemTime,
    /// How it came about.
    pub rotation_type: Option<RotationType>,
    /// Nonce and AES-256-GCM ciphertext of the material.
    pub sealed: Vec<u8>,
}

impl fmt::Debug for SealedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedVersion")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Step 2: the versions of a multi-Region key, sealed to an offer.
#[derive(Clone, Serialize, Deserialize)]
pub struct ReplicaPackage {
    /// The multi-Region key id.
    pub key_id: KeyId,
    /// The owning account.
    pub account: AccountId,
    /// The primary's region.
    pub primary_region: Region,
    /// Every replica region.
    pub replica_regions: Vec<Region>,
    /// The version new ciphertext uses.
    pub current_version: VersionId,
    /// The primary's automatic rotation (replicas share the status).
    #[serde(default)]
    pub rotation: Option<coffer_keys::RotationSchedule>,
    /// The offer's token, returned.
    pub token: Vec<u8>,
    /// The AES-256 key sealing the versions, RSA-OAEP-SHA-256-wrapped to the offer.
    pub wrapped_key: Vec<u8>,
    /// Every version.
    pub versions: Vec<SealedVersion>,
}

impl fmt::Debug for ReplicaPackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicaPackage")
            .field("key_id", &self.key_id)
            .field("primary_region", &self.primary_region)
            .field("versions", &self.versions.len())
            .finish_non_exhaustive()
    }
}

impl AuditResponse for ReplicaOffer {}
impl AuditResponse for ReplicateKeyResponse {
    fn key(&self) -> Option<(&str, &str)> {
        None
    }
    fn elements(&self) -> serde_json::Value {
        json!({
            "replicaKeyMetadata": {
                "keyId": self.replica_key_metadata.key_id,
                "arn": self.replica_key_metadata.arn,
                "keyState": self.replica_key_metadata.key_state.as_str(),
            }
        })
    }
}
impl AuditParams for ReplicateKeyRequest {
    fn params(&self) -> serde_json::Value {
        json!({
            "keyId": self.key_id,
            "replicaRegion": self.replica_region,
            "description": self.description,
            "bypassPolicyLockoutSafetyCheck": self.bypass_policy_lockout_safety_check,
            "tags": self.tags.iter().map(|t| json!({"tagKey": t.tag_key, "tagValue": t.tag_value})).collect::<Vec<_>>(),
        })
    }
}

impl AuditParams for UpdatePrimaryRegionRequest {
    fn params(&self) -> serde_json::Value {
        json!({ "keyId": self.key_id, "primaryRegion": self.primary_region })
    }
}

/// The transport a `Kms` uses to reach its replica regions.
#[derive(Default)]
pub(crate) struct Replication(parking_lot::RwLock<Option<Arc<dyn ReplicaTransport>>>);

impl Kms {
    /// Sets how this region reaches the regions of its multi-Region keys' replicas (cofferd
    /// sets it from its peer configuration). Without one, ReplicateKey is refused and pending
    /// syncs wait.
    pub fn set_replica_transport(&self, transport: Arc<dyn ReplicaTransport>) {
        *self.replication.0.write() = Some(transport);
    }

    fn transport(&self) -> Option<Arc<dyn ReplicaTransport>> {
        self.replication.0.read().clone()
    }

    /// ReplicateKey: a replica of a multi-Region primary key in another region.
    pub(crate) fn replicate_key_op(
        &self,
        caller: &Caller,
        req: ReplicateKeyRequest,
        call: &Call<'_>,
    ) -> Result<ReplicateKeyResponse, Error> {
        let region = parse_region("replicaRegion", &req.replica_region)?;
        validate::description(req.description.as_deref().unwrap_or_default())?;
        validate::tags(&req.tags)?;
        let request_tags: BTreeMap<String, String> = req
            .tags
            .iter()
            .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
            .collect();
        let extra = [("kms:ReplicaRegion", region.as_str())];
        let access = Access {
            extra: &extra,
            request_tags: Some(&request_tags),
            ..Access::default()
        };
        let key = self.admit(call, caller, Gate::with(access), Target::Named(&req.key_id))?;
        let record = key.record.clone();
        let Some(mr) = record.multi_region.clone() else {
            return Err(Error::unsupported(format!(
                "{} is not a multi-Region key.",
                key.arn
            )));
        };
        if !record.is_primary() {
            return Err(Error::unsupported(format!(
                "{} is not a multi-Region primary key.",
                key.arn
            )));
        }
        if region == self.region {
            return Err(Error::validation(format!(
                "The replica region {region} is the region of the primary key."
            )));
        }
        if mr.replica_regions.contains(&region) {
            return Err(Error::already_exists(format!(
                "{} already has a replica in {region}.",
                key.arn
            )));
        }
        // AWS also requires kms:CreateKey in the replica region: the caller's identity policies
        // (as this region knows them) decide, as for CreateKey.
        let create_access = Access {
            request_tags: Some(&request_tags),
            multi_region: Some(true),
            key_spec: Some(record.key_spec.as_str()),
            key_usage: Some(record.key_usage.as_str()),
            key_origin: Some(record.origin.as_str()),
            ..Access::default()
        };
        self.admit_without_key(
            call,
            caller,
            Gate::with(create_access).action(Action::Op(Operation::CreateKey)),
        )?;
        let transport = self.transport().ok_or_else(|| {
            Error::unsupported(format!(
                "This coffer has no peer regions configured; it cannot reach {region}."
            ))
        })?;
        let attributes = ReplicaAttributes {
            description: req.description.unwrap_or_default(),
            tags: crate::key_ops::dedup_tags(req.tags),
            policy: req.policy,
            bypass_policy_lockout_safety_check: req.bypass_policy_lockout_safety_check,
            principal: caller.principal_arn.to_string(),
        };
        let mut replicas = mr.replica_regions.clone();
        replicas.push(region.clone());
        let offer_request = ReplicaOfferRequest {
            key_id: record.key_id,
            account: record.account,
            primary_region: self.region.clone(),
            key_spec: record.key_spec,
            key_usage: record.key_usage,
            create: Some(attributes.clone()),
        };
        let offer = transport.offer(&region, &offer_request)?;
        let package = self.replica_package(&record, &offer, &replicas)?;
        transport.install(&region, &package)?;

        // The primary now lists the replica; the other replicas learn of it by a sync.
        let mut txn = self.store.begin()?;
        let mut fresh = txn
            .key(&record.key_id)?
            .ok_or_else(|| self.key_not_found(&record.account, &record.key_id))?;
        if let Some(m) = fresh.multi_region.as_mut() {
            if !m.replica_regions.contains(&region) {
                m.replica_regions.push(region.clone());
            }
            for other in &mr.replica_regions {
                if !m.pending_sync.contains(other) {
                    m.pending_sync.push(other.clone());
                }
            }
        }
        fresh.revision += 1;
        txn.update_key(&fresh)?;
        call.before_commit()?;
        txn.commit()?;
        self.cache.invalidate_key(&record.key_id);
        // Best effort now; maintenance retries what is left.
        let _ = self.sync_replicas(&record.key_id);

        let mut replica = replica_record(
            &offer_request,
            &attributes,
            region,
            replicas,
            self.clock.now(),
        );
        replica.state = KeyState::Enabled;
        replica.current_version = package.current_version;
        let policy = replica
            .policy
            .clone()
            .unwrap_or_else(|| coffer_policy::default_key_policy_json(&record.account));
        Ok(ReplicateKeyResponse {
            replica_key_metadata: crate::key_ops::metadata(&replica),
            replica_policy: policy,
            replica_tags: replica.tags.clone(),
        })
    }

    /// Pushes the primary key `key_id`'s versions and configuration to every replica region it
    /// has a pending sync for; a region that answers is no longer pending. Returns how many
    /// remain pending (maintenance retries them). Not a primary, or none pending: `Ok(0)`.
    pub fn sync_replicas(&self, key_id: &KeyId) -> Result<usize, Error> {
        let Some(record) = self.store.begin()?.key(key_id)? else {
            return Ok(0);
        };
        let pending = match &record.multi_region {
            Some(m) if record.is_primary() => m.pending_sync.clone(),
            _ => return Ok(0),
        };
        if pending.is_empty() {
            return Ok(0);
        }
        let Some(transport) = self.transport() else {
            return Ok(pending.len());
        };
        let replicas = record
            .multi_region
            .as_ref()
            .map(|m| m.replica_regions.clone())
            .unwrap_or_default();
        let mut done = Vec::new();
        let mut first_error = None;
        for region in &pending {
            let offer_request = ReplicaOfferRequest {
                key_id: record.key_id,
                account: record.account,
                primary_region: self.region.clone(),
                key_spec: record.key_spec,
                key_usage: record.key_usage,
                create: None,
            };
            let pushed = transport.offer(region, &offer_request).and_then(|offer| {
                let package = self.replica_package(&record, &offer, &replicas)?;
                transport.install(region, &package)
            });
            match pushed {
                Ok(()) => done.push(region.clone()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let mut txn = self.store.begin()?;
        let Some(mut fresh) = txn.key(key_id)? else {
            return Ok(0);
        };
        let mut left = 0;
        if let Some(m) = fresh.multi_region.as_mut() {
            // Only what was pushed from the record read above is done: a change that committed
            // since (another rotation) marked its regions again, and they stay pending if the
            // versions pushed predate it.
            let unchanged = fresh.revision == record.revision;
            if unchanged {
                m.pending_sync.retain(|r| !done.contains(r));
            }
            left = m.pending_sync.len();
            if unchanged && !done.is_empty() {
                fresh.revision += 1;
                txn.update_key(&fresh)?;
                txn.commit()?;
                self.cache.invalidate_key(key_id);
            }
        }
        match first_error {
            Some(e) if left > 0 && done.is_empty() => Err(e),
            _ => Ok(left),
        }
    }

    /// [`Kms::sync_replicas`] of the key a request named by id or ARN (best effort).
    pub(crate) fn sync_named(&self, id: coffer_core::KeyRef<'_>) {
        let key_id = match id {
            coffer_core::KeyRef::KeyId(k) => k,
            coffer_core::KeyRef::KeyArn { key_id, .. } => key_id,
            _ => return,
        };
        if key_id.is_multi_region() {
            let _ = self.sync_replicas(&key_id);
        }
    }

    /// The package of every version of `record`, sealed to `offer`.
    fn replica_package(
        &self,
        record: &KeyRecord,
        offer: &ReplicaOffer,
        replicas: &[Region],
    ) -> Result<ReplicaPackage, Error> {
        let kind = MaterialKind::of(record.key_spec, record.key_usage)
            .ok_or_else(|| Error::unsupported("This key's spec cannot be replicated."))?;
        let content = SymmetricKey::generate(self.rng.as_ref())?;
        let wrapped_key = coffer_crypto::asym::encrypt_oaep(
            &offer.public_key,
            OaepHash::Sha256,
            content.expose(),
        )
        .map_err(|_| {
            Error::internal("the replica region's wrapping key is not a usable RSA key")
        })?;
        let wrapped = self.store.begin()?.versions(&record.key_id)?;
        let mut versions = Vec::with_capacity(wrapped.len());
        for w in &wrapped {
            let version = w
                .unwrap_as(&record.key_id, &*self.root, kind)
                .map_err(Error::internal)?;
            let material = version.export_material();
            let nonce = Nonce::random(self.rng.as_ref())?;
            let sealed = aead::seal(
                &content,
                &nonce,
                &seal_aad(&record.key_id, &w.id),
                material.expose(),
            )?;
            let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
            out.extend_from_slice(nonce.as_bytes());
            out.extend_from_slice(&sealed);
            versions.push(SealedVersion {
                id: w.id,
                created: w.created,
                rotation_type: w.rotation_type,
                sealed: out,
            });
        }
        Ok(ReplicaPackage {
            key_id: record.key_id,
            account: record.account,
            primary_region: self.region.clone(),
            replica_regions: replicas.to_vec(),
            current_version: record.current_version,
            rotation: record.rotation.clone(),
            token: offer.token.clone(),
            wrapped_key,
            versions,
        })
    }

    /// Step 1 in the replica region, for `peer` (the primary region's credential): checks the
    /// peer and the request, creates a new replica's record in state `Creating`, and answers a
    /// one-time wrapping key. Audited as ReplicateKey by the peer.
    pub fn replica_offer(
        &self,
        peer: &Caller,
        req: ReplicaOfferRequest,
    ) -> Result<ReplicaOffer, Error> {
        let params = json!({
            "keyId": req.key_id.to_string(),
            "primaryRegion": req.primary_region.as_str(),
            "replicaRegion": self.region.as_str(),
            "step": "offer",
        });
        self.audited(peer, Operation::ReplicateKey, params, |call| {
            let arn = self.key_arn(&req.account, &req.key_id);
            self.check_peer(call, peer, &req.account, &arn)?;
            if !req.key_id.is_multi_region() {
                return Err(Error::validation("Only multi-Region keys have replicas."));
            }
            if req.primary_region == self.region {
                return Err(Error::validation(
                    "A replica cannot be in the region of its primary key.",
                ));
            }
            let mut txn = self.store.begin()?;
            let existing = txn.key(&req.key_id)?;
            // A replica of this key and account (after UpdatePrimaryRegion it may still name the
            // former primary until this update tells it otherwise).
            let same_set = |r: &KeyRecord| r.account == req.account && r.is_replica();
            match (existing, &req.create) {
                (None, Some(attributes)) => {
                    let record = replica_record(
                        &req,
                        attributes,
                        self.region.clone(),
                        vec![self.region.clone()],
                        self.clock.now(),
                    );
                    if let Some(policy) = &attributes.policy {
                        let who = Caller::new(&attributes.principal)?;
                        self.check_policy(
                            &who,
                            policy,
                            &arn,
                            attributes.bypass_policy_lockout_safety_check,
                        )?;
                    }
                    validate::description(&attributes.description)?;
                    validate::tags(&attributes.tags)?;
                    txn.insert_pending_key(&record)?;
                    call.resource(&arn, &req.account);
                    call.before_commit()?;
                    txn.commit()?;
                    self.cache.invalidate_key(&req.key_id);
                }
                // A ReplicateKey that failed after step 1 is tried again.
                (Some(r), Some(_)) if same_set(&r) && r.state == KeyState::Creating => {}
                (Some(_), Some(_)) => {
                    return Err(Error::already_exists(format!(
                        "{arn} already exists in {}.",
                        self.region
                    )))
                }
                (Some(r), None) if same_set(&r) => {}
                (_, None) => return Err(self.key_not_found(&req.account, &req.key_id)),
            }
            let wrapping = PrivateKey::generate(AsymmetricAlgorithm::Rsa3072, KeyRole::Decrypt)
                .map_err(Error::internal)?;
            let valid_to = self.clock.now() + OFFER_LIFETIME;
            let token = self.seal_offer(&req.key_id, valid_to, &wrapping)?;
            Ok(ReplicaOffer {
                public_key: wrapping.public_key_der().to_vec(),
                token,
            })
        })
    }

    /// Step 2 in the replica region: opens the package sealed to this region's offer, adds the
    /// versions the replica lacks, makes the primary's current version current and enables a
    /// replica that was `Creating`. Audited as ReplicateKey by the peer.
    pub fn install_replica(&self, peer: &Caller, package: ReplicaPackage) -> Result<(), Error> {
        let params = json!({
            "keyId": package.key_id.to_string(),
            "primaryRegion": package.primary_region.as_str(),
            "replicaRegion": self.region.as_str(),
            "step": "install",
            "versions": package.versions.len(),
        });
        self.audited(peer, Operation::ReplicateKey, params, |call| {
            let arn = self.key_arn(&package.account, &package.key_id);
            self.check_peer(call, peer, &package.account, &arn)?;
            let now = self.clock.now();
            let wrapping = self.open_offer(&package.key_id, &package.token, now)?;
            let invalid = || Error::validation("The replica package does not open.");
            let raw = wrapping
                .decrypt_oaep(OaepHash::Sha256, &package.wrapped_key)
                .map_err(|_| invalid())?;
            let content = SymmetricKey::from_slice(raw.expose()).map_err(|_| invalid())?;
            let mut txn = self.store.begin()?;
            let mut record = txn
                .key(&package.key_id)?
                .filter(|r| r.account == package.account && r.is_replica())
                .ok_or_else(|| self.key_not_found(&package.account, &package.key_id))?;
            let kind = MaterialKind::of(record.key_spec, record.key_usage)
                .ok_or_else(|| Error::unsupported("This key's spec cannot be replicated."))?;
            let have: Vec<VersionId> = txn.versions(&record.key_id)?.iter().map(|v| v.id).collect();
            let mut known = have.clone();
            for v in &package.versions {
                if have.contains(&v.id) {
                    continue;
                }
                let material = open_sealed(&content, &record.key_id, v).ok_or_else(invalid)?;
                let version =
                    BackingKey::from_replicated(v.id, kind, material, v.created, v.rotation_type)
                        .map_err(|_| invalid())?;
                let wrapped = version
                    .wrap(&record.key_id, &*self.root)
                    .map_err(Error::internal)?;
                txn.add_version(&record.key_id, &wrapped)?;
                known.push(v.id);
            }
            if !known.contains(&package.current_version) {
                return Err(invalid());
            }
            record.current_version = package.current_version;
            record.rotation = package.rotation.clone();
            if let Some(m) = record.multi_region.as_mut() {
                m.primary_region = package.primary_region.clone();
                m.replica_regions = package.replica_regions.clone();
            }
            if record.state == KeyState::Creating {
                record.state = KeyState::Enabled;
            }
            record.revision += 1;
            txn.update_key(&record)?;
            call.resource(&arn, &package.account);
            call.before_commit()?;
            txn.commit()?;
            self.cache.invalidate_key(&record.key_id);
            Ok(())
        })
    }

    /// Tells the primary's region that the replica `record` is being deleted (maintenance calls
    /// it when the replica's waiting period is over; the replica is deleted only once the
    /// primary has been told).
    pub(crate) fn notify_replica_deleted(&self, record: &KeyRecord) -> Result<(), Error> {
        let Some(m) = &record.multi_region else {
            return Ok(());
        };
        let transport = self.transport().ok_or_else(|| {
            Error::dependency_timeout("No peer is configured for the primary's region.")
        })?;
        transport.notify(
            &m.primary_region,
            &MultiRegionNotice::ReplicaDeleted {
                key_id: record.key_id,
                account: record.account,
                replica_region: self.region.clone(),
            },
        )
    }

    /// A notice from another region of a multi-Region key set, for `peer` (that region's
    /// credential, allowed `coffer:AcceptReplica`). Audited as ReplicateKey by the peer.
    pub fn receive_notice(&self, peer: &Caller, notice: MultiRegionNotice) -> Result<(), Error> {
        let (key_id, account, step) = match &notice {
            MultiRegionNotice::ReplicaDeleted {
                key_id, account, ..
            } => (*key_id, *account, "replica-deleted"),
            MultiRegionNotice::Promote {
                key_id, account, ..
            } => (*key_id, *account, "promote"),
        };
        let params = json!({ "keyId": key_id.to_string(), "step": step });
        let changed = self.audited(peer, Operation::ReplicateKey, params, |call| {
            let arn = self.key_arn(&account, &key_id);
            self.check_peer(call, peer, &account, &arn)?;
            let now = self.clock.now();
            let mut txn = self.store.begin()?;
            let mut record = txn
                .key(&key_id)?
                .filter(|r| r.account == account && r.multi_region.is_some())
                .ok_or_else(|| self.key_not_found(&account, &key_id))?;
            match notice {
                MultiRegionNotice::ReplicaDeleted { replica_region, .. } => {
                    if !record.is_primary() {
                        return Err(Error::invalid_state(format!(
                            "{arn} is not the primary key in this region."
                        )));
                    }
                    let window = record.pending_deletion_window_days.unwrap_or(30);
                    let state = record.state;
                    if let Some(m) = record.multi_region.as_mut() {
                        m.replica_regions.retain(|r| *r != replica_region);
                        m.pending_sync.retain(|r| *r != replica_region);
                        // The others learn that the set lost a replica.
                        for r in m.replica_regions.clone() {
                            if !m.pending_sync.contains(&r) {
                                m.pending_sync.push(r);
                            }
                        }
                        if state == KeyState::PendingReplicaDeletion && m.replica_regions.is_empty()
                        {
                            record.state = KeyState::PendingDeletion;
                            record.deletion_date =
                                Some(now + Duration::from_secs(u64::from(window) * 86_400));
                        }
                    }
                }
                MultiRegionNotice::Promote {
                    old_primary,
                    replica_regions,
                    rotation,
                    ..
                } => {
                    if !record.is_replica() {
                        return Err(Error::invalid_state(format!(
                            "{arn} is not a replica key in this region."
                        )));
                    }
                    // Both keys must be Enabled when the update starts (AWS).
                    if record.state != KeyState::Enabled {
                        return Err(Error::invalid_state(format!(
                            "{arn} is {} in {}; it must be Enabled.",
                            record.state, self.region
                        )));
                    }
                    if let Some(m) = record.multi_region.as_mut() {
                        m.primary_region = self.region.clone();
                        m.replica_regions = replica_regions;
                        // The other replicas (not the former primary, which promoted this
                        // one) learn of their new primary from it.
                        m.pending_sync = m
                            .replica_regions
                            .iter()
                            .filter(|r| **r != old_primary)
                            .cloned()
                            .collect();
                    }
                    record.rotation = rotation;
                }
            }
            record.revision += 1;
            txn.update_key(&record)?;
            call.resource(&arn, &account);
            call.before_commit()?;
            txn.commit()?;
            self.cache.invalidate_key(&key_id);
            Ok(())
        });
        changed?;
        let _ = self.sync_replicas(&key_id);
        Ok(())
    }

    /// UpdatePrimaryRegion: the replica in `primary_region` becomes the primary key and this
    /// one a replica. Both are `Updating` meanwhile in AWS; here this key is `Updating` until
    /// the other region has taken the role.
    pub(crate) fn update_primary_region_op(
        &self,
        caller: &Caller,
        req: UpdatePrimaryRegionRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let region = parse_region("primaryRegion", &req.primary_region)?;
        let extra = [("kms:PrimaryRegion", region.as_str())];
        let access = Access {
            extra: &extra,
            ..Access::default()
        };
        let key = self.admit(call, caller, Gate::with(access), Target::Named(&req.key_id))?;
        let record = key.record.clone();
        let Some(mr) = record.multi_region.clone() else {
            return Err(Error::unsupported(format!(
                "{} is not a multi-Region key.",
                key.arn
            )));
        };
        if !record.is_primary() {
            return Err(Error::unsupported(format!(
                "{} is not the primary key: call UpdatePrimaryRegion in {}.",
                key.arn, mr.primary_region
            )));
        }
        if region == self.region {
            // Already the primary: nothing to do (AWS answers success).
            return Ok(());
        }
        if !mr.replica_regions.contains(&region) {
            return Err(Error::not_found(format!(
                "{} has no replica in {region}.",
                key.arn
            )));
        }
        let transport = self.transport().ok_or_else(|| {
            Error::unsupported(format!(
                "This coffer has no peer regions configured; it cannot reach {region}."
            ))
        })?;
        // 1. This key is Updating (no use, no change) while the other region takes the role.
        let before = self.set_state(&record.key_id, KeyState::Updating)?;
        let mut replicas: Vec<Region> = mr
            .replica_regions
            .iter()
            .filter(|r| **r != region)
            .cloned()
            .collect();
        replicas.push(self.region.clone());
        let promoted = transport.notify(
            &region,
            &MultiRegionNotice::Promote {
                key_id: record.key_id,
                account: record.account,
                old_primary: self.region.clone(),
                replica_regions: replicas.clone(),
                rotation: record.rotation.clone(),
            },
        );
        // 2. Roles swapped, or (the other region did not answer) back as it was.
        let mut txn = self.store.begin()?;
        let mut fresh = txn
            .key(&record.key_id)?
            .ok_or_else(|| self.key_not_found(&record.account, &record.key_id))?;
        fresh.state = before;
        if promoted.is_ok() {
            if let Some(m) = fresh.multi_region.as_mut() {
                m.primary_region = region.clone();
                m.replica_regions = replicas;
                m.pending_sync.clear();
            }
            // The rotation status stays (replicas share it); only the primary rotates.
        }
        fresh.revision += 1;
        txn.update_key(&fresh)?;
        if promoted.is_ok() {
            call.before_commit()?;
        }
        txn.commit()?;
        self.cache.invalidate_key(&record.key_id);
        promoted
    }

    /// Sets a key's state in its own transaction; the state it had.
    fn set_state(&self, id: &KeyId, state: KeyState) -> Result<KeyState, Error> {
        let mut txn = self.store.begin()?;
        let mut r = txn
            .key(id)?
            .ok_or_else(|| Error::not_found("The key no longer exists."))?;
        let before = r.state;
        r.state = state;
        r.revision += 1;
        txn.update_key(&r)?;
        txn.commit()?;
        self.cache.invalidate_key(id);
        Ok(before)
    }

    /// A peer acts for the key's account, with `coffer:AcceptReplica` on the replica's ARN.
    fn check_peer(
        &self,
        call: &Call<'_>,
        peer: &Caller,
        account: &AccountId,
        arn: &str,
    ) -> Result<(), Error> {
        // The peer is this region's own admission path for the call (no key policy applies to a
        // replica that the primary's region creates); it is not charged a customer's quota.
        let _ = call.first_charge();
        let denied = || {
            Error::access_denied(format!(
                "{} is not authorized to create or update replicas in this region.",
                peer.principal_arn
            ))
        };
        if peer.account != *account {
            call.resource(arn, account);
            return Err(denied());
        }
        match self.evaluate_identity_policies(
            peer,
            ACCEPT_REPLICA_ACTION,
            arn,
            IdentityRequest::new(),
        ) {
            IdentityDecision::Allow => Ok(()),
            _ => Err(denied()),
        }
    }

    fn seal_offer(
        &self,
        key_id: &KeyId,
        valid_to: SystemTime,
        wrapping: &PrivateKey,
    ) -> Result<Vec<u8>, Error> {
        let der = wrapping.encoded().expose();
        let mut body = SecretBytes::with_capacity(8 + der.len());
        let secs = valid_to
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        body.extend_from_slice(&secs.to_be_bytes());
        body.extend_from_slice(der);
        let key = self.markers.derive(TOKEN_LABEL).map_err(Error::internal)?;
        let nonce = Nonce::random(self.rng.as_ref())?;
        let sealed = aead::seal(&key, &nonce, &token_aad(key_id), body.expose())?;
        let mut token = Vec::with_capacity(NONCE_LEN + sealed.len());
        token.extend_from_slice(nonce.as_bytes());
        token.extend_from_slice(&sealed);
        Ok(token)
    }

    fn open_offer(
        &self,
        key_id: &KeyId,
        token: &[u8],
        now: SystemTime,
    ) -> Result<PrivateKey, Error> {
        let invalid = || Error::validation("The replica token is not valid for this key.");
        if token.len() <= NONCE_LEN {
            return Err(invalid());
        }
        let (n, sealed) = token.split_at(NONCE_LEN);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(n);
        let key = self.markers.derive(TOKEN_LABEL).map_err(Error::internal)?;
        let body = aead::open(&key, &Nonce::from_bytes(nonce), &token_aad(key_id), sealed)
            .map_err(|_| invalid())?;
        let b = body.expose();
        let mut secs = [0u8; 8];
        secs.copy_from_slice(b.get(..8).ok_or_else(invalid)?);
        if now >= UNIX_EPOCH + Duration::from_secs(u64::from_be_bytes(secs)) {
            return Err(Error::validation(
                "The replica token has expired: the primary region must ask again.",
            ));
        }
        let der = SecretBytes::copy_from(b.get(8..).ok_or_else(invalid)?);
        PrivateKey::from_encoded(AsymmetricAlgorithm::Rsa3072, KeyRole::Decrypt, der)
            .map_err(|_| invalid())
    }
}

/// A new replica's record, `Creating` until its material arrives.
fn replica_record(
    req: &ReplicaOfferRequest,
    attributes: &ReplicaAttributes,
    region: Region,
    replicas: Vec<Region>,
    created: SystemTime,
) -> KeyRecord {
    let mut record = KeyRecord::new(
        req.key_id,
        req.account,
        region,
        created,
        attributes.description.clone(),
        req.key_spec,
        req.key_usage,
        Origin::AwsKms,
        VersionId([0; 16]),
    );
    record.state = KeyState::Creating;
    record.tags = attributes.tags.clone();
    record.policy = Some(
        attributes
            .policy
            .clone()
            .unwrap_or_else(|| coffer_policy::default_key_policy_json(&req.account)),
    );
    record.multi_region = Some(MultiRegion {
        primary_region: req.primary_region.clone(),
        replica_regions: replicas,
        pending_sync: Vec::new(),
    });
    record
}

fn parse_region(field: &str, s: &str) -> Result<Region, Error> {
    Region::parse(s).map_err(|_| {
        field_error(
            field,
            "Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$",
        )
    })
}

fn token_aad(key_id: &KeyId) -> Vec<u8> {
    [TOKEN_LABEL, key_id.as_bytes().as_slice()].concat()
}

fn seal_aad(key_id: &KeyId, version: &VersionId) -> Vec<u8> {
    [
        SEAL_LABEL,
        key_id.as_bytes().as_slice(),
        version.0.as_slice(),
    ]
    .concat()
}

fn open_sealed(content: &SymmetricKey, key_id: &KeyId, v: &SealedVersion) -> Option<SecretBytes> {
    if v.sealed.len() <= NONCE_LEN {
        return None;
    }
    let (n, sealed) = v.sealed.split_at(NONCE_LEN);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(n);
    aead::open(
        content,
        &Nonce::from_bytes(nonce),
        &seal_aad(key_id, &v.id),
        sealed,
    )
    .ok()
}
