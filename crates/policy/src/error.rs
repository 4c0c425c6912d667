use std::fmt;

/// The AWS exception every [`PolicyError`] maps to.
pub const MALFORMED_POLICY_DOCUMENT: &str = "MalformedPolicyDocumentException";

/// Why a policy document was refused. Every variant maps to AWS's
/// `MalformedPolicyDocumentException` (see [`PolicyError::aws_error_code`]); the message says where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The document is longer than the limit.
    #[error("the policy is {size} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The limit ([`MAX_POLICY_BYTES`](crate::MAX_POLICY_BYTES)).
        max: usize,
    },
    /// The document is not JSON.
    #[error("the policy is not valid JSON (line {line}, column {column})")]
    Json {
        /// Line of the fault, from 1.
        line: usize,
        /// Column of the fault, from 1.
        column: usize,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// An object of the document names a member twice (`"Effect"` twice in a statement, two
    /// `StringEquals` blocks in one `Condition`): refused, since parsers disagree on which one
    /// counts and a reader of the text may see the other.
    #[error("the policy repeats a member (line {line}, column {column}): {source}")]
    DuplicateMember {
        /// Line of the repeat, from 1.
        line: usize,
        /// Column of the repeat, from 1.
        column: usize,
        /// The walk's error, naming the member and its path.
        #[source]
        source: serde_json::Error,
    },
    /// The document is JSON but breaks the policy grammar.
    #[error("{at}: {problem}")]
    Invalid {
        /// Where, e.g. `Statement[2].Condition`.
        at: Location,
        /// What is wrong there.
        problem: Problem,
    },
}

impl PolicyError {
    /// The AWS exception name this error is reported as: always `MalformedPolicyDocumentException`.
    pub fn aws_error_code(&self) -> &'static str {
        MALFORMED_POLICY_DOCUMENT
    }

    pub(crate) fn at(at: &Location, problem: Problem) -> Self {
        Self::Invalid {
            at: at.clone(),
            problem,
        }
    }
}

/// A path into a policy document, such as `Statement[2].Condition.StringEquals`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location(String);

impl Location {
    pub(crate) fn root() -> Self {
        Self(String::new())
    }

    pub(crate) fn field(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    pub(crate) fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    /// The path as text; empty for the document itself.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("policy")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// What is wrong at a [`Location`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// An element name the grammar does not have.
    #[error("unknown element '{0}'")]
    UnknownElement(String),
    /// A condition operator the grammar does not have.
    #[error("unknown operator '{0}'")]
    UnknownOperator(String),
    /// A required element is absent.
    #[error("missing required element '{0}'")]
    Missing(&'static str),
    /// Two elements that exclude each other are both present.
    #[error("'{0}' and '{1}' cannot both be present")]
    Conflicting(&'static str, &'static str),
    /// `Effect` is neither `Allow` nor `Deny`.
    #[error("Effect must be \"Allow\" or \"Deny\", not '{0}'")]
    BadEffect(String),
    /// A value of the wrong JSON type.
    #[error("expected {0}")]
    WrongType(&'static str),
    /// A `Version` other than `2012-10-17` or `2008-10-17`.
    #[error("unsupported Version '{0}'")]
    BadVersion(String),
    /// A principal that is not `*`, an account id or an ARN.
    #[error("invalid principal '{0}'")]
    BadPrincipal(String),
    /// A principal type other than `AWS` and `Service`.
    #[error("unsupported principal type '{0}'")]
    UnsupportedPrincipalType(String),
    /// An action that is neither `*` nor `service:action`.
    #[error("invalid action '{0}'")]
    BadAction(String),
    /// A condition value the operator cannot read.
    #[error("invalid {kind} value '{value}'")]
    BadValue {
        /// What the operator expected (number, date, CIDR block, boolean).
        kind: &'static str,
        /// The value found.
        value: String,
    },
    /// An empty list, string or block where something is required.
    #[error("must not be empty")]
    Empty,
    /// Two statements with the same `Sid`.
    #[error("duplicate Sid '{0}'")]
    DuplicateSid(String),
    /// A statement of a key policy without `Principal` or `NotPrincipal`.
    #[error("a key policy statement needs a Principal or NotPrincipal")]
    PrincipalRequired,
    /// A statement of an identity policy with `Principal` or `NotPrincipal`.
    #[error("an identity policy statement may not name a Principal or NotPrincipal")]
    PrincipalForbidden,
    /// A condition key coffer does not evaluate: refused rather than accepted and ignored, since a
    /// `Deny` on it would silently never fire.
    #[error("condition key '{0}' is not supported by coffer (see docs/SECURITY.md for the condition keys each operation sets)")]
    UnsupportedConditionKey(String),
    /// An operator that does not take the `IfExists` suffix or a set qualifier.
    #[error("operator '{0}' does not take this qualifier or suffix")]
    BadQualifier(String),
}
