//! Loaded PKCS#11 modules, one per library path in the process.
//!
//! `C_Initialize` is process-wide state of a module: a second `C_Initialize` of the same library
//! fails, and a `C_Finalize` ends every session of every user of it. So the root key and every
//! cluster that name the same module share one [`Module`], found here by path. This registry is
//! the one piece of process-global state of the crate; it mirrors the library's own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::slot::Slot;
use parking_lot::{Mutex, RwLock};

use crate::config::TokenSelector;
use crate::error::{classify, Error};
use coffer_crypto::SecretBytes;
use coffer_keys::HsmError;

/// A loaded and initialized PKCS#11 library.
pub(crate) struct Module {
    path: PathBuf,
    /// The initialized context; replaced by [`Module::reinitialize`].
    ctx: RwLock<Pkcs11>,
    /// Bumped by every re-initialization: sessions opened under an older generation are gone
    /// (their handles may be reused by the library) and must never be closed or used.
    generation: AtomicU64,
    /// Serializes re-initializations.
    reinit: Mutex<()>,
    /// The PIN that last logged the application in to each slot (PKCS#11 keeps one login per
    /// application and token: a second C_Login answers "already logged in" whatever the PIN).
    logins: Mutex<HashMap<u64, SecretBytes>>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("path", &self.path).finish()
    }
}

/// The loaded modules, by absolute path.
type Registry = Mutex<Vec<(PathBuf, Weak<Module>)>>;

fn registry() -> &'static Registry {
    static MODULES: OnceLock<Registry> = OnceLock::new();
    MODULES.get_or_init(|| Mutex::new(Vec::new()))
}

fn init(ctx: &Pkcs11) -> Result<(), CkError> {
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Someone else in the process (another library) initialized it: usable as is.
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) | Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}

impl Module {
    /// The module at `path`, loading and initializing it on first use in the process.
    pub(crate) fn load(path: &Path) -> Result<Arc<Self>, Error> {
        let key = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut modules = registry().lock();
        modules.retain(|(_, m)| m.strong_count() > 0);
        if let Some(m) = modules
            .iter()
            .find(|(p, _)| *p == key)
            .and_then(|(_, m)| m.upgrade())
        {
            return Ok(m);
        }
        let fail = |source| Error::Module {
            module: path.to_path_buf(),
            source,
        };
        if !path.is_file() {
            return Err(Error::ModuleMissing {
                module: path.to_path_buf(),
            });
        }
        let ctx = Pkcs11::new(path).map_err(fail)?;
        init(&ctx).map_err(fail)?;
        let module = Arc::new(Self {
            path: path.to_path_buf(),
            ctx: RwLock::new(ctx),
            generation: AtomicU64::new(0),
            reinit: Mutex::new(()),
            logins: Mutex::new(HashMap::new()),
        });
        modules.push((key, Arc::downgrade(&module)));
        Ok(module)
    }

    /// The current generation (see [`Module::reinitialize`]).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Runs `f` with the context, holding off re-initialization meanwhile; `f` learns the
    /// generation the context belongs to.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Pkcs11, u64) -> R) -> R {
        let ctx = self.ctx.read();
        f(&ctx, self.generation())
    }

    /// Finalizes and initializes the library again, so that it scans its slots anew (a token
    /// that came back after removal is visible only after this in some modules, SoftHSM2's file
    /// store among them). Every session of the old generation is gone afterwards. Nothing
    /// happens if another caller re-initialized since `seen` (the generation the caller saw
    /// fail).
    pub(crate) fn reinitialize(&self, seen: u64) -> Result<(), HsmError> {
        let _one = self.reinit.lock();
        if self.generation() != seen {
            return Ok(());
        }
        // The write lock waits for every call in flight: none runs across the re-initialization.
        let ctx = self.ctx.write();
        // Whatever happens next, sessions of the old generation are gone.
        self.generation.fetch_add(1, Ordering::AcqRel);
        let _ = ctx.clone().finalize();
        init(&ctx).map_err(|e| classify(&e))
    }

    /// Records that `pin` logged the application in to `slot`.
    pub(crate) fn record_login(&self, slot: u64, pin: &SecretBytes) {
        self.logins.lock().insert(slot, pin.clone());
    }

    /// Whether `pin` is the PIN that logged the application in to `slot` (`None`: not known,
    /// someone outside this crate logged in).
    pub(crate) fn login_pin_matches(&self, slot: u64, pin: &SecretBytes) -> Option<bool> {
        self.logins
            .lock()
            .get(&slot)
            .map(|known| crate::token::same_pin(known, pin))
    }

    /// The slot holding the token `selector` names, if present.
    pub(crate) fn find_slot(
        ctx: &Pkcs11,
        selector: &TokenSelector,
    ) -> Result<Option<Slot>, HsmError> {
        let slots = ctx.get_slots_with_token().map_err(|e| classify(&e))?;
        for slot in slots {
            match selector {
                TokenSelector::Slot(id) => {
                    if slot.id() == *id {
                        return Ok(Some(slot));
                    }
                }
                TokenSelector::Label(label) => {
                    let info = match ctx.get_token_info(slot) {
                        Ok(info) => info,
                        // A slot whose token went away between the two calls.
                        Err(_) => continue,
                    };
                    if info.label().trim_end() == label.as_str() && info.token_initialized() {
                        return Ok(Some(slot));
                    }
                }
            }
        }
        Ok(None)
    }
}
