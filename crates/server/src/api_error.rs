//! Errors as the wire carries them: an AWS exception name and a message, and the one table
//! mapping names to HTTP statuses.

use std::fmt;

/// An error response: `{"__type": code, "message": message}` with [`ApiError::status`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    code: &'static str,
    message: String,
    /// For a service-side fault, its cause chain: for the operator's log, never sent.
    cause: Option<String>,
}

impl ApiError {
    /// An error with an exception name and a message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            cause: None,
        }
    }

    /// The cause chain of a service-side fault (a damaged record names its key), for the
    /// operator's log; never part of [`body`](Self::body).
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    /// The exception name, e.g. `NotFoundException`.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message the client sees.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status: 500 for the service-side faults of the AWS model, 413 for an oversized
    /// body, 400 for everything else (as AWS KMS answers).
    pub fn status(&self) -> u16 {
        match self.code {
            "KMSInternalException" | "DependencyTimeoutException" | "KeyUnavailableException" => {
                500
            }
            REQUEST_TOO_LARGE => 413,
            _ => 400,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        serde_json::json!({ "__type": self.code, "message": self.message })
            .to_string()
            .into_bytes()
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub(crate) fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", message)
    }

    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Self::new("UnsupportedOperationException", message)
    }
}

/// The exception name of an oversized request body.
pub(crate) const REQUEST_TOO_LARGE: &str = "RequestEntityTooLargeException";

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl From<coffer::Error> for ApiError {
    fn from(e: coffer::Error) -> Self {
        let mut out = Self::new(e.code(), e.message());
        out.cause = std::error::Error::source(&e).map(crate::error_chain);
        out
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
        // Client errors have none.
        assert_eq!(ApiError::from(coffer::Error::not_found("x")).cause(), None);
    }

    #[test]
    fn statuses() {
        assert_eq!(ApiError::new("KMSInternalException", "x").status(), 500);
        assert_eq!(ApiError::new("NotFoundException", "x").status(), 400);
        assert_eq!(ApiError::new("ThrottlingException", "x").status(), 400);
        assert_eq!(ApiError::new(REQUEST_TOO_LARGE, "x").status(), 413);
        let b: serde_json::Value =
            serde_json::from_slice(&ApiError::new("NotFoundException", "gone \"x\"").body())
                .unwrap();
        assert_eq!(b["__type"], "NotFoundException");
        assert_eq!(b["message"], "gone \"x\"");
        // Every facade exception maps to a status.
        for code in coffer::Error::CODES {
            let s = ApiError::new(code, "").status();
            assert!(s == 400 || s == 500);
        }
    }
}
