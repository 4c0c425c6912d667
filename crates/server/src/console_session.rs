//! The web console's sessions: kept in memory, looked up by the SHA-256 of the session id the
//! browser holds in its cookie (the id itself is never stored), bound to the access key id that
//! signed the sign-in. Each session ends after [`IDLE_SECS`] without use or [`ABSOLUTE_SECS`]
//! after sign-in, whichever comes first; the table holds at most [`MAX_SESSIONS`], and one
//! access key at most [`MAX_PER_KEY`] (its oldest is dropped for a new one).

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use coffer::RandomSource;
use parking_lot::Mutex;

/// A session ends after this many seconds without a request.
pub(crate) const IDLE_SECS: i64 = 15 * 60;
/// A session ends this many seconds after sign-in, however busy.
pub(crate) const ABSOLUTE_SECS: i64 = 60 * 60;
/// Most sessions kept at once.
pub(crate) const MAX_SESSIONS: usize = 10_000;
/// Most sessions of one access key; a new one drops the key's oldest.
pub(crate) const MAX_PER_KEY: usize = 16;
/// Random bytes of a session id and of a CSRF token (256 bits).
const TOKEN_BYTES: usize = 32;

/// What the server keeps of one session.
struct Session {
    access_key_id: String,
    /// Sent to the page at sign-in (and on `GET /console/api/session`), echoed in
    /// `X-Coffer-Csrf`.
    csrf: String,
    created: i64,
    last_used: i64,
}

impl Session {
    fn expires_at(&self) -> i64 {
        self.created.saturating_add(ABSOLUTE_SECS)
    }

    fn live(&self, now: i64) -> bool {
        now < self.expires_at() && now < self.last_used.saturating_add(IDLE_SECS)
    }
}

/// A session as a request sees it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionView {
    /// The access key id it is bound to.
    pub(crate) access_key_id: String,
    /// Its CSRF token.
    pub(crate) csrf: String,
    /// When it ends at the latest (Unix seconds).
    pub(crate) expires_at: i64,
}

impl std::fmt::Debug for SessionView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionView")
            .field("access_key_id", &self.access_key_id)
            .field("csrf", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A session just made: the id for the cookie (given to the browser once, never kept) and
/// the session.
pub(crate) struct NewSession {
    pub(crate) id: String,
    pub(crate) view: SessionView,
}

/// Why a session could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionError {
    /// The system's random source failed.
    Random,
    /// [`MAX_SESSIONS`] live sessions already.
    Full,
}

/// The session table.
pub(crate) struct Sessions {
    rng: coffer::SystemRandom,
    by_hash: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    pub(crate) fn new() -> Self {
        Self {
            rng: coffer::SystemRandom::new(),
            by_hash: Mutex::new(HashMap::new()),
        }
    }

    fn token(&self) -> Result<String, SessionError> {
        let mut b = [0u8; TOKEN_BYTES];
        self.rng.fill(&mut b).map_err(|_| SessionError::Random)?;
        let s = URL_SAFE_NO_PAD.encode(b);
        coffer_crypto::wipe(&mut b);
        Ok(s)
    }

    /// A new session for `access_key_id` at `now`.
    pub(crate) fn create(&self, access_key_id: &str, now: i64) -> Result<NewSession, SessionError> {
        let id = self.token()?;
        let csrf = self.token()?;
        let mut map = self.by_hash.lock();
        map.retain(|_, s| s.live(now));
        // The key's oldest sessions beyond its share.
        let mut own: Vec<([u8; 32], i64)> = map
            .iter()
            .filter(|(_, s)| s.access_key_id == access_key_id)
            .map(|(h, s)| (*h, s.created))
            .collect();
        if own.len() >= MAX_PER_KEY {
            own.sort_by_key(|(_, created)| *created);
            for (h, _) in own.iter().take(own.len() + 1 - MAX_PER_KEY) {
                map.remove(h);
            }
        }
        if map.len() >= MAX_SESSIONS {
            return Err(SessionError::Full);
        }
        let session = Session {
            access_key_id: access_key_id.to_owned(),
            csrf: csrf.clone(),
            created: now,
            last_used: now,
        };
        let view = SessionView {
            access_key_id: access_key_id.to_owned(),
            csrf,
            expires_at: session.expires_at(),
        };
        map.insert(hash(&id), session);
        Ok(NewSession { id, view })
    }

    /// The live session whose id is `id`, its idle clock restarted; a session that has ended is
    /// removed.
    pub(crate) fn touch(&self, id: &str, now: i64) -> Option<SessionView> {
        let h = hash(id);
        let mut map = self.by_hash.lock();
        let session = map.get_mut(&h)?;
        if !session.live(now) {
            map.remove(&h);
            return None;
        }
        session.last_used = now;
        Some(SessionView {
            access_key_id: session.access_key_id.clone(),
            csrf: session.csrf.clone(),
            expires_at: session.expires_at(),
        })
    }

    /// Ends the session whose id is `id`.
    pub(crate) fn remove(&self, id: &str) {
        self.by_hash.lock().remove(&hash(id));
    }

    /// Ends every session of `access_key_id` (its credential is gone).
    pub(crate) fn remove_key(&self, access_key_id: &str) {
        self.by_hash
            .lock()
            .retain(|_, s| s.access_key_id != access_key_id);
    }

    /// Sessions held now (ended ones included until the next sign-in sweeps them).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_hash.lock().len()
    }
}

fn hash(id: &str) -> [u8; 32] {
    coffer_crypto::sha256(id.as_bytes())
}

/// Whether `given` is the session's CSRF token, compared in constant time.
pub(crate) fn csrf_matches(session: &SessionView, given: &str) -> bool {
    coffer_crypto::constant_time_eq(session.csrf.as_bytes(), given.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tokens_are_256_bit_base64url_and_distinct() {
        let s = Sessions::new();
        let a = s.create("AKIA1", 1_000).unwrap();
        let b = s.create("AKIA1", 1_000).unwrap();
        for t in [&a.id, &a.view.csrf, &b.id] {
            assert_eq!(URL_SAFE_NO_PAD.decode(t).unwrap().len(), 32);
        }
        assert_ne!(a.id, b.id);
        assert_ne!(a.view.csrf, b.view.csrf);
        assert_ne!(a.id, a.view.csrf);
        assert_eq!(a.view.expires_at, 1_000 + ABSOLUTE_SECS);
        // Only the hashes of the ids are kept.
        let kept: std::collections::HashSet<[u8; 32]> = s.by_hash.lock().keys().copied().collect();
        assert_eq!(kept, [hash(&a.id), hash(&b.id)].into_iter().collect());
    }

    #[test]
    fn idle_and_absolute_timeouts_end_sessions() {
        let s = Sessions::new();
        let n = s.create("AKIA1", 0).unwrap();
        // Used every 14 minutes: alive until the absolute limit.
        let mut t = 0;
        while t + 14 * 60 < ABSOLUTE_SECS {
            t += 14 * 60;
            assert!(s.touch(&n.id, t).is_some(), "at {t}");
        }
        assert!(s.touch(&n.id, ABSOLUTE_SECS).is_none());
        // Idle for 15 minutes: ended, and removed.
        let m = s.create("AKIA1", 0).unwrap();
        assert!(s.touch(&m.id, IDLE_SECS - 1).is_some());
        assert!(s.touch(&m.id, 2 * IDLE_SECS - 1).is_none());
        assert!(s.touch(&m.id, IDLE_SECS).is_none());
    }

    #[test]
    fn unknown_removed_and_revoked_sessions_are_gone() {
        let s = Sessions::new();
        let a = s.create("AKIA1", 0).unwrap();
        let b = s.create("AKIA2", 0).unwrap();
        assert!(s.touch("nope", 1).is_none());
        s.remove(&a.id);
        assert!(s.touch(&a.id, 1).is_none());
        s.remove_key("AKIA2");
        assert!(s.touch(&b.id, 1).is_none());
    }

    #[test]
    fn one_key_holds_a_bounded_share() {
        let s = Sessions::new();
        let first = s.create("AKIA1", 0).unwrap();
        for i in 0..MAX_PER_KEY {
            s.create("AKIA1", 1 + i as i64).unwrap();
        }
        assert_eq!(s.len(), MAX_PER_KEY);
        assert!(s.touch(&first.id, 100).is_none());
        let other = s.create("AKIA2", 100).unwrap();
        assert!(s.touch(&other.id, 101).is_some());
    }

    #[test]
    fn csrf_compare() {
        let s = Sessions::new();
        let n = s.create("AKIA1", 0).unwrap();
        assert!(csrf_matches(&n.view, &n.view.csrf.clone()));
        assert!(!csrf_matches(&n.view, ""));
        assert!(!csrf_matches(&n.view, &n.id));
        assert!(!format!("{:?}", n.view).contains(&n.view.csrf));
    }
}
