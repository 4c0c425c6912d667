//! Errors as the wire carries them: an AWS exception name and a message, and the one table
//! mapping names to HTTP statuses.

use std::fmt;

/// An error response: `{"__type": code, "message": message}` with [`ApiError::status`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with an exception name and a message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
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
        Self::new(e.code(), e.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
