//! SDK errors as [`ProviderError`]s: the AWS error code when the service answered, one of
//! [`codes`](crate::codes) when it did not.

use std::fmt;

use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use coffer_envelope::ProviderError;

/// The codes of failures that are not the service's own answer. A service refusal carries the
/// service's code (`NotFoundException`, `AccessDeniedException`, ...) instead.
pub mod codes {
    /// The request never got an answer: the endpoint could not be reached, the connection
    /// failed or timed out, or the credentials could not be resolved.
    pub const CONNECTION: &str = "ConnectionError";
    /// The service answered with something that is not a valid response (unparsable, a field
    /// missing, a data key that is not 32 bytes, an error without a code).
    pub const INVALID_RESPONSE: &str = "InvalidResponse";
    /// The SDK could not build the request (a bad argument, before anything was sent).
    pub const INVALID_REQUEST: &str = "InvalidRequest";
    /// A blocking call was made on a thread that is running asynchronous (tokio) code; use the
    /// async [`KmsKeyring`](crate::KmsKeyring) there.
    pub const BLOCKING_IN_ASYNC_CONTEXT: &str = "BlockingCallInAsyncContext";
}

/// `e` (from operation `op`) as a [`ProviderError`]. Only the operation's typed error or the
/// transport's error is kept as the source, never the raw HTTP response.
pub(crate) fn from_sdk<E, R>(op: &'static str, e: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + 'static,
{
    let (code, message) = match &e {
        SdkError::ServiceError(se) => match se.err().code() {
            Some(code) => (
                code.to_owned(),
                se.err().message().unwrap_or_default().to_owned(),
            ),
            None => (
                codes::INVALID_RESPONSE.to_owned(),
                format!("{op}: the service's error has no code"),
            ),
        },
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            (codes::CONNECTION.to_owned(), format!("{op}: {}", chain(&e)))
        }
        SdkError::ResponseError(_) => (
            codes::INVALID_RESPONSE.to_owned(),
            format!("{op}: {}", chain(&e)),
        ),
        _ => (
            codes::INVALID_REQUEST.to_owned(),
            format!("{op}: {}", chain(&e)),
        ),
    };
    let err = ProviderError::new(code, message);
    match e.into_source() {
        Ok(source) => err.with_source(BoxedSource(source)),
        Err(_) => err,
    }
}

/// A response that lacks what it must carry.
pub(crate) fn invalid_response(op: &'static str, what: &str) -> ProviderError {
    ProviderError::new(codes::INVALID_RESPONSE, format!("{op}: {what}"))
}

/// An error and its sources, `: `-separated, each said once.
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

/// A boxed error as an `Error` of its own (a `Box<dyn Error>` is not one).
struct BoxedSource(Box<dyn std::error::Error + Send + Sync + 'static>);

impl fmt::Debug for BoxedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for BoxedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for BoxedSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_kms::error::ErrorMetadata;
    use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyError;
    use std::error::Error as _;

    type E = SdkError<GenerateDataKeyError, &'static str>;

    fn service(code: Option<&str>) -> E {
        let mut meta = ErrorMetadata::builder().message("Access denied.");
        if let Some(code) = code {
            meta = meta.code(code);
        }
        SdkError::service_error(GenerateDataKeyError::generic(meta.build()), "raw response")
    }

    #[test]
    fn a_service_refusal_keeps_its_code_and_message_not_the_raw_response() {
        let e = from_sdk("GenerateDataKey", service(Some("AccessDeniedException")));
        assert_eq!(e.code(), "AccessDeniedException");
        assert_eq!(e.message(), "Access denied.");
        let source = e.source().unwrap();
        assert!(!format!("{source:?}").contains("raw response"));
        let e = from_sdk("GenerateDataKey", service(None));
        assert_eq!(e.code(), codes::INVALID_RESPONSE);
    }

    #[test]
    fn failures_without_an_answer_have_codes_of_their_own() {
        let io = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let e = from_sdk("Decrypt", E::timeout_error(io()));
        assert_eq!(e.code(), codes::CONNECTION);
        assert!(e.message().starts_with("Decrypt: "), "{}", e.message());
        let e = from_sdk("Decrypt", E::response_error(io(), "raw response"));
        assert_eq!(e.code(), codes::INVALID_RESPONSE);
        assert!(!format!("{e:?}").contains("raw response"));
        let e = from_sdk("Decrypt", E::construction_failure(io()));
        assert_eq!(e.code(), codes::INVALID_REQUEST);
        assert!(e.source().is_some());
    }
}
