//! A logged-in token: a small pool of PKCS#11 sessions, and the key operations coffer needs.
//!
//! A PKCS#11 session must not be used by two threads at once, so each call takes a session out
//! of the pool (opening and logging in a new one when the pool is empty), uses it alone, and
//! puts it back. When the token reports that it or the session is gone, the pool is dropped and
//! the call fails with [`HsmError::Unavailable`]; the next call looks for the token again (and,
//! if the module no longer lists it, re-initializes the module once so that it scans its slots
//! anew), logs in and carries on: recovery without a restart.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use coffer_crypto::{constant_time_eq, RandomSource, SecretBytes};
use coffer_keys::hsm::{HSM_NONCE_LEN, HSM_TAG_LEN};
use coffer_keys::{HsmError, HsmKeyRef};
use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::RawAuthPin;
use parking_lot::Mutex;

use crate::config::TokenConfig;
use crate::error::{classify, loses_sessions};
use crate::module::Module;

/// Idle sessions kept per token: enough for the two cores and a few blocking threads.
const MAX_IDLE: usize = 8;
/// Length of the `CKA_ID` of a key object coffer makes.
pub(crate) const KEY_ID_LEN: usize = 16;
/// AES-256.
const AES_KEY_LEN: u64 = 32;
/// The most plaintext one seal takes (AWS's 4096-byte Encrypt limit, with room for a
/// data key pair's private key).
pub(crate) const MAX_SEAL_LEN: usize = 64 * 1024;

/// What the pool holds, all of one module generation.
struct Pool {
    generation: u64,
    idle: Vec<Session>,
    /// Object handles by `CKA_ID`, valid while the pool's sessions are.
    handles: HashMap<Vec<u8>, ObjectHandle>,
}

/// A token logged in with one PIN.
pub(crate) struct Token {
    module: Arc<Module>,
    config: TokenConfig,
    pin: SecretBytes,
    rng: Arc<dyn RandomSource>,
    pool: Mutex<Pool>,
    closed: AtomicBool,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("module", &self.config.module)
            .field("token", &self.config.token)
            .field("pin", &"[redacted]")
            .finish_non_exhaustive()
    }
}

fn ck(e: CkError) -> HsmError {
    classify(&e)
}

/// A session taken out of the pool, with the generation it was opened under.
struct Taken {
    session: Session,
    generation: u64,
}

impl Token {
    /// Logs in to the token `config` names with `pin`: fails now if the token is absent, the
    /// PIN wrong or the user locked.
    pub(crate) fn connect(
        module: Arc<Module>,
        config: TokenConfig,
        pin: SecretBytes,
        rng: Arc<dyn RandomSource>,
    ) -> Result<Self, HsmError> {
        let token = Self {
            pool: Mutex::new(Pool {
                generation: module.generation(),
                idle: Vec::new(),
                handles: HashMap::new(),
            }),
            module,
            config,
            pin,
            rng,
            closed: AtomicBool::new(false),
        };
        token.call(|_, _| Ok(()))?;
        Ok(token)
    }

    /// The configuration this token was found by.
    pub(crate) fn config(&self) -> &TokenConfig {
        &self.config
    }

    /// Runs `f` on a logged-in session of its own. Session-losing failures drop the pool; a
    /// token the module no longer lists gets one re-initialization of the module and a second
    /// look.
    pub(crate) fn call<R>(
        &self,
        f: impl Fn(&Session, &Handles<'_>) -> Result<R, HsmError>,
    ) -> Result<R, HsmError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(HsmError::Unavailable("the session was closed".into()));
        }
        match self.attempt(&f) {
            Err(Attempt::NotPresent(generation)) => {
                self.module.reinitialize(generation)?;
                match self.attempt(&f) {
                    Err(Attempt::NotPresent(_)) => Err(self.not_present()),
                    Err(Attempt::Failed(e)) => Err(e),
                    Ok(r) => Ok(r),
                }
            }
            Err(Attempt::Failed(e)) => Err(e),
            Ok(r) => Ok(r),
        }
    }

    fn not_present(&self) -> HsmError {
        HsmError::Unavailable(format!(
            "token {} of module {} is not present",
            self.config.token,
            self.config.module.display()
        ))
    }

    fn attempt<R>(
        &self,
        f: &impl Fn(&Session, &Handles<'_>) -> Result<R, HsmError>,
    ) -> Result<R, Attempt> {
        self.module.with(|ctx, generation| {
            let taken = self.take(ctx, generation)?;
            let handles = Handles {
                token: self,
                ctx,
                generation,
            };
            let mut result = f(&taken.session, &handles);
            if matches!(result, Err(HsmError::KeyNotFound)) {
                // A key object that is not there may mean a token that is not there: some
                // modules (SoftHSM2's file store) keep the session and answer "no such object"
                // once the token is gone. Ask the token itself.
                if let Err(e) = probe(ctx, &taken.session) {
                    result = Err(e);
                }
            }
            match &result {
                Err(e) if loses_sessions(e) => {
                    let _ = taken.session.close();
                    self.drop_pool(generation);
                }
                _ => self.give_back(taken),
            }
            result.map_err(Attempt::Failed)
        })
    }

    /// A logged-in session of generation `generation`.
    fn take(&self, ctx: &Pkcs11, generation: u64) -> Result<Taken, Attempt> {
        {
            let mut pool = self.pool.lock();
            if pool.generation != generation {
                // The module was re-initialized: the old sessions are gone; never close them
                // (their handles may name new sessions now).
                std::mem::take(&mut pool.idle).into_iter().for_each(drop);
                pool.handles.clear();
                pool.generation = generation;
            }
            if let Some(session) = pool.idle.pop() {
                return Ok(Taken {
                    session,
                    generation,
                });
            }
        }
        let slot = Module::find_slot(ctx, &self.config.token)
            .map_err(Attempt::Failed)?
            .ok_or(Attempt::NotPresent(generation))?;
        let session = ctx
            .open_rw_session_no_drop(slot)
            .map_err(|e| Attempt::Failed(ck(e)))?;
        match self.login(&session, slot.id()) {
            Ok(()) => Ok(Taken {
                session,
                generation,
            }),
            Err(e) => {
                let _ = session.close();
                Err(Attempt::Failed(e))
            }
        }
    }

    fn login(&self, session: &Session, slot: u64) -> Result<(), HsmError> {
        let pin = RawAuthPin::new(Box::new(self.pin.expose().to_vec()));
        match session.login_with_raw(UserType::User, &pin) {
            Ok(()) => {
                self.module.record_login(slot, &self.pin);
                Ok(())
            }
            // The token is logged in already (PKCS#11 logs in per application and token):
            // accepted only with the PIN that logged it in, so a wrong PIN is never let in
            // behind a right one.
            Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
                match self.module.login_pin_matches(slot, &self.pin) {
                    Some(false) => Err(HsmError::InvalidCredentials),
                    _ => Ok(()),
                }
            }
            Err(e) => Err(ck(e)),
        }
    }

    fn give_back(&self, taken: Taken) {
        let mut pool = self.pool.lock();
        if pool.generation == taken.generation
            && pool.idle.len() < MAX_IDLE
            && !self.closed.load(Ordering::Acquire)
        {
            pool.idle.push(taken.session);
        } else if pool.generation == taken.generation {
            let _ = taken.session.close();
        }
    }

    fn drop_pool(&self, generation: u64) {
        let mut pool = self.pool.lock();
        if pool.generation == generation {
            for s in std::mem::take(&mut pool.idle) {
                let _ = s.close();
            }
        }
        pool.handles.clear();
    }

    /// The handle of the secret key object with `CKA_ID` `id`.
    fn handle(
        &self,
        session: &Session,
        generation: u64,
        id: &[u8],
    ) -> Result<ObjectHandle, HsmError> {
        {
            let pool = self.pool.lock();
            if pool.generation == generation {
                if let Some(h) = pool.handles.get(id) {
                    return Ok(*h);
                }
            }
        }
        let found = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Id(id.to_vec()),
            ])
            .map_err(ck)?;
        let handle = match found.as_slice() {
            [h] => *h,
            [] => return Err(HsmError::KeyNotFound),
            _ => {
                return Err(HsmError::Failed(
                    "more than one key object has this id".into(),
                ))
            }
        };
        let mut pool = self.pool.lock();
        if pool.generation == generation {
            pool.handles.insert(id.to_vec(), handle);
        }
        Ok(handle)
    }

    fn forget_handle(&self, id: &[u8]) {
        self.pool.lock().handles.remove(id);
    }

    /// Runs `f` with the handle of key `id`; a handle gone stale (the object was destroyed and
    /// perhaps made again) is looked up once more.
    fn with_key<R>(
        &self,
        id: &[u8],
        f: impl Fn(&Session, ObjectHandle, &Handles<'_>) -> Result<R, HsmError>,
    ) -> Result<R, HsmError> {
        let once = || {
            self.call(|s, handles| {
                let h = handles.get(s, id)?;
                f(s, h, handles)
            })
        };
        match once() {
            Err(HsmError::KeyNotFound) => {
                self.forget_handle(id);
                once()
            }
            other => other,
        }
    }

    /// Generates a sensitive, non-extractable AES-256 key object labelled `label`.
    pub(crate) fn generate_aes_key(&self, label: &str) -> Result<HsmKeyRef, HsmError> {
        let mut id = vec![0u8; KEY_ID_LEN];
        self.rng
            .fill_public(&mut id)
            .map_err(|_| HsmError::Failed("no randomness for a key id".into()))?;
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(AES_KEY_LEN.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Id(id.clone()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        self.call(|s, _| {
            s.generate_key(&Mechanism::AesKeyGen, &template)
                .map(|_| ())
                .map_err(ck)
        })?;
        Ok(HsmKeyRef(id))
    }

    /// The ids of the AES key objects labelled `label`.
    pub(crate) fn find_by_label(&self, label: &str) -> Result<Vec<HsmKeyRef>, HsmError> {
        self.call(|s, _| {
            let handles = s
                .find_objects(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::Label(label.as_bytes().to_vec()),
                ])
                .map_err(ck)?;
            let mut ids = Vec::with_capacity(handles.len());
            for h in handles {
                let attrs = s.get_attributes(h, &[AttributeType::Id]).map_err(ck)?;
                for a in attrs {
                    if let Attribute::Id(id) = a {
                        ids.push(HsmKeyRef(id));
                    }
                }
            }
            Ok(ids)
        })
    }

    /// The boolean attributes `kinds` of key `key`, in order (`None` where the token withholds
    /// one).
    pub(crate) fn key_attributes(
        &self,
        key: &HsmKeyRef,
        kinds: &[AttributeType],
    ) -> Result<Vec<Attribute>, HsmError> {
        self.with_key(&key.0, |s, h, _| s.get_attributes(h, kinds).map_err(ck))
    }

    pub(crate) fn seal(
        &self,
        key: &HsmKeyRef,
        nonce: &[u8; HSM_NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        if plaintext.len() > MAX_SEAL_LEN {
            return Err(HsmError::Failed("the plaintext is too long".into()));
        }
        let out = self.with_key(&key.0, |s, h, _| {
            let mut iv = *nonce;
            let params =
                GcmParams::new(&mut iv, aad, ((HSM_TAG_LEN * 8) as u64).into()).map_err(ck)?;
            s.encrypt(&Mechanism::AesGcm(params), h, plaintext)
                .map_err(ck)
        })?;
        if out.len() != plaintext.len() + HSM_TAG_LEN {
            return Err(HsmError::Failed(
                "the token returned a sealed value of the wrong length".into(),
            ));
        }
        Ok(out)
    }

    pub(crate) fn open(
        &self,
        key: &HsmKeyRef,
        nonce: &[u8; HSM_NONCE_LEN],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<SecretBytes, HsmError> {
        if ciphertext_and_tag.len() < HSM_TAG_LEN
            || ciphertext_and_tag.len() > MAX_SEAL_LEN + HSM_TAG_LEN
        {
            return Err(HsmError::Authentication);
        }
        let plain = self.with_key(&key.0, |s, h, handles| {
            let mut iv = *nonce;
            let params =
                GcmParams::new(&mut iv, aad, ((HSM_TAG_LEN * 8) as u64).into()).map_err(ck)?;
            match s.decrypt(&Mechanism::AesGcm(params), h, ciphertext_and_tag) {
                Ok(plain) => Ok(SecretBytes::new(plain)),
                // Some modules (SoftHSM2) report a failed tag check as a general error: it is
                // one only if the token no longer answers.
                Err(CkError::Pkcs11(RvError::GeneralError | RvError::FunctionFailed, _)) => {
                    handles.probe(s)?;
                    Err(HsmError::Authentication)
                }
                Err(e) => Err(ck(e)),
            }
        })?;
        if plain.len() + HSM_TAG_LEN != ciphertext_and_tag.len() {
            return Err(HsmError::Authentication);
        }
        Ok(plain)
    }

    pub(crate) fn destroy(&self, key: &HsmKeyRef) -> Result<(), HsmError> {
        let r = self.with_key(&key.0, |s, h, _| s.destroy_object(h).map_err(ck));
        self.forget_handle(&key.0);
        r
    }

    pub(crate) fn key_exists(&self, key: &HsmKeyRef) -> Result<bool, HsmError> {
        match self.with_key(&key.0, |_, _, _| Ok(())) {
            Ok(()) => Ok(true),
            Err(HsmError::KeyNotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A liveness check: the token is present and a session of ours is logged in.
    pub(crate) fn check(&self) -> Result<(), HsmError> {
        self.call(|s, _| {
            let info = s.get_session_info().map_err(ck)?;
            match info.session_state() {
                cryptoki::session::SessionState::RwUser
                | cryptoki::session::SessionState::RoUser => Ok(()),
                _ => Err(HsmError::Unavailable("the session is not logged in".into())),
            }
        })
    }

    /// Closes every session (the token logs the application out when its last session
    /// closes; an explicit C_Logout would log out other users of the same token too); later
    /// calls fail.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.module.with(|_, generation| {
            let mut pool = self.pool.lock();
            if pool.generation == generation {
                for s in std::mem::take(&mut pool.idle) {
                    let _ = s.close();
                }
            }
            pool.handles.clear();
        });
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.module.with(|_, generation| {
            let mut pool = self.pool.lock();
            if pool.generation == generation {
                for s in std::mem::take(&mut pool.idle) {
                    let _ = s.close();
                }
            }
        });
    }
}

/// Looks up key objects by `CKA_ID` for a call, caching their handles for the pool's
/// generation.
pub(crate) struct Handles<'a> {
    token: &'a Token,
    ctx: &'a Pkcs11,
    generation: u64,
}

impl Handles<'_> {
    /// The handle of the secret key object with `CKA_ID` `id`.
    pub(crate) fn get(&self, session: &Session, id: &[u8]) -> Result<ObjectHandle, HsmError> {
        self.token.handle(session, self.generation, id)
    }

    /// Whether the token of `session` still answers.
    pub(crate) fn probe(&self, session: &Session) -> Result<(), HsmError> {
        probe(self.ctx, session)
    }
}

/// Why one attempt failed.
enum Attempt {
    /// The module does not list the token (under this generation).
    NotPresent(u64),
    /// Anything else.
    Failed(HsmError),
}

impl From<HsmError> for Attempt {
    fn from(e: HsmError) -> Self {
        Self::Failed(e)
    }
}

/// Whether the token of `session` still answers (`C_GetTokenInfo` fails once it is gone).
fn probe(ctx: &Pkcs11, session: &Session) -> Result<(), HsmError> {
    let info = session.get_session_info().map_err(ck)?;
    ctx.get_token_info(info.slot_id())
        .map_err(|e| match classify(&e) {
            HsmError::Unavailable(m) => HsmError::Unavailable(m),
            other => HsmError::Unavailable(format!("the token does not answer: {other}")),
        })?;
    Ok(())
}

/// Whether `a` and `b` are the same PIN, in constant time.
pub(crate) fn same_pin(a: &SecretBytes, b: &SecretBytes) -> bool {
    a.len() == b.len() && constant_time_eq(a.expose(), b.expose())
}
