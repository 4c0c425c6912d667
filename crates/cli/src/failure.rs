//! Why a command failed, and the exit code that says so.

use std::fmt;

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};

/// A failed command.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The service refused the request (exit 1): its AWS error code and message.
    Service { code: String, message: String },
    /// A bad command line or input refused before sending (exit 2).
    Usage(String),
    /// I/O, configuration or connection (exit 3).
    Io(String),
}

impl Failure {
    /// The documented exit code.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Service { .. } => 1,
            Self::Usage(_) => 2,
            Self::Io(_) => 3,
        }
    }

    /// A failed file operation on `what`.
    pub(crate) fn io(what: &str, e: &std::io::Error) -> Self {
        Self::Io(format!("{what}: {e}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Service { code, message } => write!(f, "{code}: {message}"),
            Self::Usage(m) => write!(f, "error: {m}"),
            Self::Io(m) => write!(f, "error: {m}"),
        }
    }
}

impl<E, R> From<SdkError<E, R>> for Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug + 'static,
{
    fn from(e: SdkError<E, R>) -> Self {
        if let SdkError::ServiceError(se) = &e {
            let err = se.err();
            if let Some(code) = err.code() {
                return Self::Service {
                    code: code.to_owned(),
                    message: err.message().unwrap_or_default().to_owned(),
                };
            }
        }
        Self::Io(format!("the request failed: {}", chain(&e)))
    }
}

/// An error and its sources, `: `-separated (each said once).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);

    impl fmt::Display for E {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn chains_say_each_part_once() {
        let e = E(
            "dispatch failure",
            Some(Box::new(E("io", Some(Box::new(E("io", None)))))),
        );
        assert_eq!(chain(&e), "dispatch failure: io");
    }
}
