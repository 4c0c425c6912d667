//! Errors as the wire carries them: the facade's [`coffer::Error`] (its exception name, message
//! and cause), or one of the protocol's own exceptions ([`WireCode`]) that only the server
//! raises. Each exception name is written once — in the facade's error table or in
//! [`WireCode`]'s — together with its HTTP status.

use std::fmt;

macro_rules! wire_codes {
    ($($(#[$m:meta])* $variant:ident => $name:literal, $status:literal;)+) => {
        /// The exceptions of the protocol itself (transport, authentication, routing), which
        /// the facade never raises: each with its AWS name and HTTP status.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum WireCode {
            $($(#[$m])* $variant,)+
        }

        impl WireCode {
            /// Every protocol exception.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The AWS exception name.
            pub const fn name(self) -> &'static str {
                match self { $(Self::$variant => $name,)+ }
            }

            /// The HTTP status it is answered with.
            pub const fn status(self) -> u16 {
                match self { $(Self::$variant => $status,)+ }
            }
        }
    };
}

wire_codes! {
    /// The target names no AWS KMS operation.
    UnknownOperation => "UnknownOperationException", 400;
    /// The body is larger than the server accepts.
    RequestEntityTooLarge => "RequestEntityTooLargeException", 413;
    /// The body did not arrive in time.
    RequestTimeout => "RequestTimeoutException", 400;
    /// The request carries no Authorization header.
    MissingAuthenticationToken => "MissingAuthenticationTokenException", 400;
    /// The Authorization header is malformed.
    IncompleteSignature => "IncompleteSignatureException", 400;
    /// The signature does not verify (or the request is too old or too new).
    InvalidSignature => "InvalidSignatureException", 400;
    /// The access key id is not one the server knows.
    UnrecognizedClient => "UnrecognizedClientException", 400;
}

#[derive(Debug)]
enum Kind {
    /// The facade's error, with its cause.
    Kms(coffer::Error),
    /// One of the protocol's own.
    Wire { code: WireCode, message: String },
}

/// An error response: `{"__type": code, "message": message}` with [`ApiError::status`].
#[derive(Debug)]
pub struct ApiError {
    kind: Kind,
    /// For a service-side fault, its cause chain: for the operator's log, never sent.
    cause: Option<String>,
}

impl ApiError {
    /// An error by exception name: a `WireCode`'s name or one of [`coffer::Error::CODES`].
    /// Prefer the typed constructors (`From<coffer::Error>`, [`ApiError::wire`]); a name that
    /// is neither is a bug, answered as an internal error.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        if let Some(&code) = WireCode::ALL.iter().find(|c| c.name() == code) {
            return Self::wire(code, message);
        }
        let e = coffer::Error::from_code(code, message).unwrap_or_else(|| {
            debug_assert!(false, "{code} is no exception name");
            coffer::Error::internal(format!("{code} is no exception name"))
        });
        Self::from(e)
    }

    /// One of the protocol's own exceptions.
    pub fn wire(code: WireCode, message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Wire {
                code,
                message: message.into(),
            },
            cause: None,
        }
    }

    /// The cause chain of a service-side fault (a damaged record names its key), for the
    /// operator's log; never part of [`body`](Self::body).
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    /// The facade's error this answers, if it is one.
    pub fn kms_error(&self) -> Option<&coffer::Error> {
        match &self.kind {
            Kind::Kms(e) => Some(e),
            Kind::Wire { .. } => None,
        }
    }

    /// The exception name, e.g. `NotFoundException`.
    pub fn code(&self) -> &'static str {
        match &self.kind {
            Kind::Kms(e) => e.code(),
            Kind::Wire { code, .. } => code.name(),
        }
    }

    /// The message the client sees.
    pub fn message(&self) -> &str {
        match &self.kind {
            Kind::Kms(e) => e.message(),
            Kind::Wire { message, .. } => message,
        }
    }

    /// The HTTP status: 500 for the service-side faults, 413 for an oversized body, 400 for
    /// everything else (as AWS KMS answers), from the facade's table or `WireCode`'s.
    pub fn status(&self) -> u16 {
        match &self.kind {
            Kind::Kms(e) => e.http_status(),
            Kind::Wire { code, .. } => code.status(),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        serde_json::json!({ "__type": self.code(), "message": self.message() })
            .to_string()
            .into_bytes()
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::from(coffer::Error::validation(message))
    }

    pub(crate) fn serialization(message: impl Into<String>) -> Self {
        Self::from(coffer::Error::serialization(message))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

/// Keeps the facade's error whole: its cause chain goes to [`ApiError::cause`] for the log.
impl From<coffer::Error> for ApiError {
    fn from(e: coffer::Error) -> Self {
        let cause = std::error::Error::source(&e).map(crate::error_chain);
        Self {
            kind: Kind::Kms(e),
            cause,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_cause_is_kept_for_the_log_and_never_sent() {
        #[derive(Debug, thiserror::Error)]
        #[error("stored key version of key 1234abcd-12ab-34cd-56ef-1234567890ab is damaged")]
        struct Damaged;
        let e = ApiError::from(coffer::Error::internal(Damaged));
        assert_eq!(e.status(), 500);
        let cause = e.cause().unwrap();
        assert!(
            cause.contains("1234abcd-12ab-34cd-56ef-1234567890ab"),
            "{cause}"
        );
        let body = String::from_utf8(e.body()).unwrap();
        assert!(
            !body.contains("1234abcd") && !body.contains("damaged"),
            "{body}"
        );
        // The facade's error is kept whole, cause and all.
        let kept = e.kms_error().unwrap();
        assert!(std::error::Error::source(kept).is_some());
        // Client errors have none.
        assert_eq!(ApiError::from(coffer::Error::not_found("x")).cause(), None);
    }

    #[test]
    fn statuses() {
        assert_eq!(ApiError::new("KMSInternalException", "x").status(), 500);
        assert_eq!(ApiError::new("NotFoundException", "x").status(), 400);
        assert_eq!(ApiError::new("ThrottlingException", "x").status(), 400);
        assert_eq!(
            ApiError::wire(WireCode::RequestEntityTooLarge, "x").status(),
            413
        );
        let b: serde_json::Value =
            serde_json::from_slice(&ApiError::new("NotFoundException", "gone \"x\"").body())
                .unwrap();
        assert_eq!(b["__type"], "NotFoundException");
        assert_eq!(b["message"], "gone \"x\"");
        // Every facade exception maps to a status, and keeps its name.
        for code in coffer::Error::CODES {
            let e = ApiError::new(code, "");
            assert!(e.status() == 400 || e.status() == 500);
            assert_eq!(e.code(), *code);
            assert!(e.kms_error().is_some());
        }
        // The protocol's own: named once, 413 only for the oversized body.
        for &code in WireCode::ALL {
            let e = ApiError::wire(code, "x");
            assert_eq!(e.code(), code.name());
            assert_eq!(ApiError::new(code.name(), "x").code(), code.name());
            assert_eq!(
                e.status(),
                if code == WireCode::RequestEntityTooLarge {
                    413
                } else {
                    400
                }
            );
            assert!(!coffer::Error::CODES.contains(&code.name()));
        }
    }
}
