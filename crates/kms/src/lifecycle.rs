//! The key lifecycle: enable, disable, describe, list, schedule and cancel deletion, rotation,
//! and the maintenance sweep.

use std::time::{Duration, SystemTime};

use coffer_core::KeyId;

use crate::Caller;
use coffer_keys::{
    BackingKey, KeyRecord, KeySpec, KeyState, Origin, RotationSchedule, RotationType,
};
use coffer_store::Txn;

use crate::admission::{Gate, Target};
use crate::audit::Call;
use crate::authz::Access;
use crate::marker::{self, DEFAULT_LIMIT};
use crate::model::*;
use crate::validate::{self, field_error};
use crate::{CheckState, Error, Kms};

/// Most on-demand rotations a key may have in its life (AWS's quota, not adjustable).
pub const MAX_ON_DEMAND_ROTATIONS: u32 = 25;
/// Default automatic rotation period.
pub const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;
/// Default deletion waiting period.
pub const DEFAULT_PENDING_WINDOW_DAYS: u32 = 30;

const DAY: Duration = Duration::from_secs(86_400);

fn days(n: u32) -> Duration {
    DAY * n
}

impl Kms {
    /// Applies `change` to the key's current record in one transaction: the key is admitted
    /// (resolved, charged, authorized), then re-read inside the transaction, its state checked
    /// for the call's operation there, the change applied, and the cache invalidated after
    /// commit.
    pub(crate) fn change_key<T>(
        &self,
        caller: &Caller,
        call: &Call<'_>,
        key_id: &str,
        change: impl FnOnce(&mut KeyRecord, &mut dyn Txn) -> Result<T, Error>,
    ) -> Result<(KeyRecord, T), Error> {
        self.change_key_with(caller, call, key_id, Access::default(), change)
    }

    /// [`change_key`](Self::change_key) with what the request tells authorization (the
    /// condition keys of the operation).
    pub(crate) fn change_key_with<T>(
        &self,
        caller: &Caller,
        call: &Call<'_>,
        key_id: &str,
        access: Access<'_>,
        change: impl FnOnce(&mut KeyRecord, &mut dyn Txn) -> Result<T, Error>,
    ) -> Result<(KeyRecord, T), Error> {
        let op = call.op();
        let gate = Gate::with(access).state_checked_elsewhere();
        let key = self.admit(call, caller, gate, Target::Named(key_id))?;
        let id = key.record.key_id;
        let mut txn = self.store.begin()?;
        let mut record = txn
            .key(&id)?
            .ok_or_else(|| self.key_not_found(&key.record.account, &id))?;
        op.check_state(record.state, &key.arn)?;
        let out = change(&mut record, &mut *txn)?;
        record.revision += 1;
        txn.update_key(&record)?;
        call.before_commit()?;
        txn.commit()?;
        self.cache.invalidate_key(&id);
        Ok((record, out))
    }

    /// Enables a disabled key (a no-op on an enabled one).
    pub(crate) fn enable_key_op(
        &self,
        caller: &Caller,
        req: KeyIdRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        self.change_key(caller, call, &req.key_id, |r, _| {
            r.state = KeyState::Enabled;
            Ok(())
        })?;
        Ok(())
    }

    /// Disables a key: it can no longer be used until enabled again.
    pub(crate) fn disable_key_op(
        &self,
        caller: &Caller,
        req: KeyIdRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        self.change_key(caller, call, &req.key_id, |r, _| {
            r.state = KeyState::Disabled;
            Ok(())
        })?;
        Ok(())
    }

    /// Replaces a key's description.
    pub(crate) fn update_key_description_op(
        &self,
        caller: &Caller,
        req: UpdateKeyDescriptionRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        validate::description(&req.description)?;
        self.change_key(caller, call, &req.key_id, |r, _| {
            r.description = req.description;
            Ok(())
        })?;
        Ok(())
    }

    /// Lists the caller's account's keys, ordered by key id.
    pub(crate) fn list_keys_op(
        &self,
        caller: &Caller,
        req: ListKeysRequest,
        call: &Call<'_>,
    ) -> Result<ListKeysResponse, Error> {
        let limit = marker::limit(req.limit, DEFAULT_LIMIT, 1000)?;
        self.admit_without_key(call, caller, Gate::default())?;
        let scope = [b"keys:".as_slice(), caller.account.as_str().as_bytes()].concat();
        let after = match &req.marker {
            Some(m) => {
                let pos = self.markers.read(&scope, m)?;
                let bytes: [u8; 16] = pos
                    .try_into()
                    .map_err(|_| Error::invalid_marker("The marker is not valid."))?;
                Some(KeyId::from_bytes(bytes))
            }
            None => None,
        };
        let mut page = self
            .store
            .begin()?
            .list_keys(&caller.account, after.as_ref(), limit + 1)?;
        let (next_marker, truncated) = self
            .markers
            .page(&scope, &mut page, limit, |x| x.key_id.as_bytes());
        Ok(ListKeysResponse {
            keys: page
                .iter()
                .map(|r| KeyListEntry {
                    key_id: r.key_id.to_string(),
                    key_arn: r.arn(),
                })
                .collect(),
            next_marker,
            truncated,
        })
    }

    /// Schedules a key for deletion after a waiting period of 7–30 days (default 30). The key
    /// cannot be used meanwhile; [`cancel_key_deletion`](Self::cancel_key_deletion) undoes it.
    pub(crate) fn schedule_key_deletion_op(
        &self,
        caller: &Caller,
        req: ScheduleKeyDeletionRequest,
        call: &Call<'_>,
    ) -> Result<ScheduleKeyDeletionResponse, Error> {
        let window = req
            .pending_window_in_days
            .unwrap_or(DEFAULT_PENDING_WINDOW_DAYS);
        if !(7..=30).contains(&window) {
            return Err(field_error(
                "pendingWindowInDays",
                "Member must have value between 7 and 30",
            ));
        }
        let now = self.clock.now();
        let deletion_date = now + days(window);
        let window_text = window.to_string();
        let extra = [(
            "kms:ScheduleKeyDeletionPendingWindowInDays",
            window_text.as_str(),
        )];
        let (record, ()) = self.change_key_with(
            caller,
            call,
            &req.key_id,
            Access {
                extra: &extra,
                ..Access::default()
            },
            |r, _| {
                // A multi-Region primary with replicas waits for them to be deleted; its
                // waiting period begins then (AWS).
                let waits_for_replicas = r.is_primary()
                    && r.multi_region
                        .as_ref()
                        .is_some_and(|m| !m.replica_regions.is_empty());
                if waits_for_replicas {
                    r.state = KeyState::PendingReplicaDeletion;
                    r.deletion_date = None;
                } else {
                    r.state = KeyState::PendingDeletion;
                    r.deletion_date = Some(deletion_date);
                }
                r.pending_deletion_window_days = Some(window);
                Ok(())
            },
        )?;
        Ok(ScheduleKeyDeletionResponse {
            key_id: record.arn(),
            deletion_date: record.deletion_date,
            key_state: record.state,
            pending_window_in_days: window,
        })
    }

    /// Cancels a scheduled deletion; the key is left disabled, as AWS leaves it.
    pub(crate) fn cancel_key_deletion_op(
        &self,
        caller: &Caller,
        req: KeyIdRequest,
        call: &Call<'_>,
    ) -> Result<KeyIdResponse, Error> {
        let (record, ()) = self.change_key(caller, call, &req.key_id, |r, txn| {
            // A key without material (origin EXTERNAL, never imported or deleted) returns to
            // PendingImport, not Disabled: it could not be enabled.
            r.state = if txn.versions(&r.key_id)?.is_empty() {
                KeyState::PendingImport
            } else {
                KeyState::Disabled
            };
            r.deletion_date = None;
            r.pending_deletion_window_days = None;
            Ok(())
        })?;
        Ok(KeyIdResponse {
            key_id: record.arn(),
        })
    }

    /// Turns on automatic rotation every `rotation_period_in_days` (90–2560, default 365).
    pub(crate) fn enable_key_rotation_op(
        &self,
        caller: &Caller,
        req: EnableKeyRotationRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let period = req
            .rotation_period_in_days
            .unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS);
        if !(90..=2560).contains(&period) {
            return Err(field_error(
                "rotationPeriodInDays",
                "Member must have value between 90 and 2560",
            ));
        }
        let now = self.clock.now();
        let period_text = period.to_string();
        let extra = [("kms:RotationPeriodInDays", period_text.as_str())];
        self.change_key_with(
            caller,
            call,
            &req.key_id,
            Access {
                extra: &extra,
                ..Access::default()
            },
            |r, txn| {
                rotatable(r)?;
                let next_rotation = match &r.rotation {
                    // A changed period counts from the latest rotation (or creation).
                    Some(_) => latest_version_date(r, txn)? + days(period),
                    // Newly enabled: one period from now.
                    None => now + days(period),
                };
                r.rotation = Some(RotationSchedule {
                    period_days: period,
                    next_rotation,
                });
                mark_replicas_for_sync(r);
                Ok(())
            },
        )?;
        // Replicas share the automatic rotation status (AWS).
        if let Ok(id) = coffer_core::KeyRef::parse(&req.key_id) {
            self.sync_named(id);
        }
        Ok(())
    }

    /// Turns off automatic rotation.
    pub(crate) fn disable_key_rotation_op(
        &self,
        caller: &Caller,
        req: KeyIdRequest,
        call: &Call<'_>,
    ) -> Result<(), Error> {
        let (record, ()) = self.change_key(caller, call, &req.key_id, |r, _| {
            rotatable(r)?;
            r.rotation = None;
            mark_replicas_for_sync(r);
            Ok(())
        })?;
        let _ = self.sync_replicas(&record.key_id);
        Ok(())
    }

    /// Whether automatic rotation is on, its period and next date.
    pub(crate) fn get_key_rotation_status_op(
        &self,
        caller: &Caller,
        req: KeyIdRequest,
        call: &Call<'_>,
    ) -> Result<GetKeyRotationStatusResponse, Error> {
        let key = self.admit(call, caller, Gate::default(), Target::Named(&req.key_id))?;
        rotation_readable(&key.record)?;
        let r = &key.record.rotation;
        Ok(GetKeyRotationStatusResponse {
            key_rotation_enabled: r.is_some(),
            key_id: key.arn.clone(),
            rotation_period_in_days: r.as_ref().map(|r| r.period_days),
            next_rotation_date: r.as_ref().map(|r| r.next_rotation),
            on_demand_rotation_start_date: None,
        })
    }

    /// Rotates now: a new backing-key version becomes current; older versions still decrypt. The
    /// automatic schedule does not move. At most 25 times per key.
    pub(crate) fn rotate_key_on_demand_op(
        &self,
        caller: &Caller,
        req: KeyIdRequest,
        call: &Call<'_>,
    ) -> Result<KeyIdResponse, Error> {
        let now = self.clock.now();
        let (record, ()) = self.change_key(caller, call, &req.key_id, |r, txn| {
            rotatable(r)?;
            if r.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
                return Err(Error::limit_exceeded(format!(
                    "{} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations.",
                    r.arn()
                )));
            }
            self.add_version(r, txn, now, RotationType::OnDemand)?;
            r.on_demand_rotations += 1;
            Ok(())
        })?;
        // The replicas learn of the new version now if they answer, else from maintenance.
        let _ = self.sync_replicas(&record.key_id);
        Ok(KeyIdResponse {
            key_id: record.arn(),
        })
    }

    /// Completed rotations of a key, oldest first.
    pub(crate) fn list_key_rotations_op(
        &self,
        caller: &Caller,
        req: ListKeyRotationsRequest,
        call: &Call<'_>,
    ) -> Result<ListKeyRotationsResponse, Error> {
        let limit = marker::limit(req.limit, DEFAULT_LIMIT, 1000)?;
        let key = self.admit(call, caller, Gate::default(), Target::Named(&req.key_id))?;
        rotation_readable(&key.record)?;
        let scope = [b"rotations:".as_slice(), key.record.key_id.as_bytes()].concat();
        let start = match &req.marker {
            Some(m) => {
                let pos = self.markers.read(&scope, m)?;
                let b: [u8; 8] = pos
                    .try_into()
                    .map_err(|_| Error::invalid_marker("The marker is not valid."))?;
                usize::try_from(u64::from_be_bytes(b))
                    .map_err(|_| Error::invalid_marker("The marker is not valid."))?
            }
            None => 0,
        };
        let versions = self.store.begin()?.versions(&key.record.key_id)?;
        let all: Vec<RotationsListEntry> = versions
            .iter()
            .filter_map(|v| {
                v.rotation_type.map(|t| RotationsListEntry {
                    key_id: key.arn.clone(),
                    key_material_id: v.id.to_string(),
                    rotation_date: v.created,
                    rotation_type: t,
                })
            })
            .collect();
        let rotations: Vec<_> = all.iter().skip(start).take(limit).cloned().collect();
        let end = start + rotations.len();
        let truncated = end < all.len();
        Ok(ListKeyRotationsResponse {
            rotations,
            next_marker: truncated.then(|| self.markers.make(&scope, &(end as u64).to_be_bytes())),
            truncated,
        })
    }

    /// Performs what is due: deletes keys whose waiting period has ended (material, aliases and
    /// all), rotates enabled keys whose automatic rotation is due, and deletes imported material
    /// past its ValidTo. A server runs this on a
    /// timer; embedders call it as they see fit.
    pub fn run_maintenance(&self) -> Result<MaintenanceReport, Error> {
        const BATCH: usize = 100;
        let mut report = MaintenanceReport::default();
        let mut previous: Vec<KeyId> = Vec::new();
        loop {
            let now = self.clock.now();
            let due = self.store.begin()?.keys_due(now, BATCH)?;
            // Keys that stay due (a multi-Region primary whose replica region is down) come
            // back in the next batch: a batch that is the last one again ends the sweep.
            if due == previous {
                return Ok(report);
            }
            for id in &due {
                self.maintain(id, now, &mut report)?;
            }
            if due.len() < BATCH {
                return Ok(report);
            }
            previous = due;
        }
    }

    fn maintain(
        &self,
        id: &KeyId,
        now: SystemTime,
        report: &mut MaintenanceReport,
    ) -> Result<(), Error> {
        let mut txn = self.store.begin()?;
        let Some(mut r) = txn.key(id)? else {
            return Ok(());
        };
        match (r.state, r.deletion_date, r.rotation.clone()) {
            (KeyState::PendingDeletion, Some(when), _) if when <= now => {
                // A replica's primary learns of its deletion first; until it has, the
                // replica waits (and is tried again at the next sweep).
                if r.is_replica() {
                    drop(txn);
                    if self.notify_replica_deleted(&r).is_err() {
                        return Ok(());
                    }
                    txn = self.store.begin()?;
                    match txn.key(id)? {
                        Some(fresh) if fresh.state == KeyState::PendingDeletion => r = fresh,
                        _ => return Ok(()),
                    }
                }
                let token_versions = match &r.custom_key_store_id {
                    Some(_) => txn.versions(id)?,
                    None => Vec::new(),
                };
                txn.delete_key(id)?;
                self.service_event("DeleteKey", &r)?;
                txn.commit()?;
                self.cache.invalidate_key(id);
                self.last_usage.forget(id);
                // The key's objects in its token go too, when its store is connected.
                if let Some(store) = &r.custom_key_store_id {
                    self.destroy_token_objects(store, &token_versions);
                }
                report.keys_deleted.push(r.arn());
            }
            // A replica shows its primary's schedule; the primary rotates for it.
            (KeyState::Enabled, _, Some(schedule))
                if schedule.next_rotation <= now && !r.is_replica() =>
            {
                self.add_version(&mut r, &mut *txn, now, RotationType::Automatic)?;
                // The next rotation is a period after this one, as AWS counts it (a rotation that
                // waited while the key was disabled restarts the rhythm).
                let next = now + days(schedule.period_days);
                r.rotation = Some(RotationSchedule {
                    period_days: schedule.period_days,
                    next_rotation: next,
                });
                r.revision += 1;
                txn.update_key(&r)?;
                self.service_event("RotateKey", &r)?;
                txn.commit()?;
                self.cache.invalidate_key(id);
                report.keys_rotated.push(r.arn());
                let _ = self.sync_replicas(id);
            }
            _ if r
                .multi_region
                .as_ref()
                .is_some_and(|m| !m.pending_sync.is_empty()) =>
            {
                // A replica region that was down: try again (it stays due until it answers).
                drop(txn);
                let _ = self.sync_replicas(id);
            }
            _ => {
                // Imported material past its ValidTo is deleted, on time, whatever the state.
                if self.expire_material(&mut r, &mut *txn, now)? {
                    r.revision += 1;
                    txn.update_key(&r)?;
                    self.service_event("DeleteExpiredKeyMaterial", &r)?;
                    txn.commit()?;
                    self.cache.invalidate_key(id);
                    report.material_expired.push(r.arn());
                }
            }
        }
        Ok(())
    }

    fn add_version(
        &self,
        r: &mut KeyRecord,
        txn: &mut dyn Txn,
        now: SystemTime,
        kind: RotationType,
    ) -> Result<(), Error> {
        let v =
            BackingKey::generate(self.rng.as_ref(), now, Some(kind)).map_err(Error::internal)?;
        let wrapped = v.wrap(&r.key_id, &*self.root).map_err(Error::internal)?;
        txn.add_version(&r.key_id, &wrapped)?;
        r.current_version = v.id;
        // A multi-Region primary's replicas must learn of the new version.
        mark_replicas_for_sync(r);
        Ok(())
    }
}

/// A multi-Region primary's replicas must learn of a change of the shared properties (a new
/// version, the automatic rotation status): each is marked pending.
fn mark_replicas_for_sync(r: &mut KeyRecord) {
    if r.is_primary() {
        if let Some(m) = r.multi_region.as_mut() {
            m.pending_sync = m.replica_regions.clone();
        }
    }
}

/// GetKeyRotationStatus and ListKeyRotations: a replica answers with the status it shares
/// with its primary.
fn rotation_readable(r: &KeyRecord) -> Result<(), Error> {
    if r.is_replica() && r.key_spec == KeySpec::SymmetricDefault {
        return Ok(());
    }
    rotatable(r)
}

/// Rotation applies to symmetric keys whose material coffer generated.
fn rotatable(r: &KeyRecord) -> Result<(), Error> {
    if r.is_replica() {
        return Err(Error::unsupported(format!(
            "{} is a multi-Region replica key: rotate its primary key.",
            r.arn()
        )));
    }
    if r.key_spec != KeySpec::SymmetricDefault || r.origin != Origin::AwsKms {
        return Err(Error::unsupported(format!(
            "{} does not support automatic or on-demand rotation.",
            r.arn()
        )));
    }
    Ok(())
}

fn latest_version_date(r: &KeyRecord, txn: &mut dyn Txn) -> Result<SystemTime, Error> {
    Ok(txn
        .versions(&r.key_id)?
        .iter()
        .map(|v| v.created)
        .max()
        .unwrap_or(r.creation_date))
}
