//! The AWS KMS JSON 1.1 protocol on the server: the operation a request names, typed once as an
//! [`Operation`], and handed to the facade's codec ([`Kms::call_wire`], generated from the
//! operation table with the request and response shapes in `coffer::wire`).

use coffer::{Caller, Kms, Operation};
use serde::de::DeserializeOwned;

use crate::ApiError;

/// AWS KMS operations of the service model that are not (yet) in coffer's [`Operation`]
/// table: the wire knows such a name only to refuse it as unsupported rather than unknown.
/// Empty since GetKeyLastUsage, Encapsulate and Decapsulate joined the table.
const NOT_IN_TABLE: [&str; 0] = [];

/// Every operation name of the AWS KMS API (the service model's 56): the operation table's
/// names, then `NOT_IN_TABLE`.
pub const AWS_OPERATIONS: &[&str] = &{
    let mut names = [""; Operation::ALL.len() + NOT_IN_TABLE.len()];
    let mut i = 0;
    while i < Operation::ALL.len() {
        names[i] = Operation::ALL[i].as_str();
        i += 1;
    }
    let mut j = 0;
    while j < NOT_IN_TABLE.len() {
        names[i + j] = NOT_IN_TABLE[j];
        j += 1;
    }
    names
};

/// How many operations coffer serves ([`Operation::served`], the rows of [`Kms::SERVED`]).
const SERVED_COUNT: usize = Kms::SERVED.len();

/// The names of the served operations, in the operation table's order.
const SERVED_NAMES: [&str; SERVED_COUNT] = {
    let mut names = [""; SERVED_COUNT];
    let (mut i, mut n) = (0, 0);
    while i < Operation::ALL.len() {
        if Operation::ALL[i].served() {
            names[n] = Operation::ALL[i].as_str();
            n += 1;
        }
        i += 1;
    }
    names
};

/// The operations cofferd serves: derived from the operation table ([`Operation::served`]);
/// a test pins them to the facade's rows ([`Kms::SERVED`]).
pub const SUPPORTED_OPERATIONS: &[&str] = &SERVED_NAMES;

/// Decodes a request body (empty means `{}`). Wrong JSON or wrong types are
/// SerializationException; the message names the position, never the value.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    coffer::wire::decode(body).map_err(ApiError::from)
}

/// What a target's operation name is: one of the table's, or one AWS has that is not in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Named {
    /// An operation of coffer's table.
    Table(Operation),
    /// An AWS KMS operation not in the table (index into [`NOT_IN_TABLE`]).
    OutsideTable(usize),
}

impl Named {
    /// Parses an operation name once; `None` if AWS KMS has no such operation.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Operation::parse(name).map(Self::Table).or_else(|| {
            NOT_IN_TABLE
                .iter()
                .position(|n| *n == name)
                .map(Self::OutsideTable)
        })
    }

    /// The operation's name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Table(op) => op.as_str(),
            Self::OutsideTable(i) => NOT_IN_TABLE.get(i).copied().unwrap_or_default(),
        }
    }

    /// The operation's index in [`AWS_OPERATIONS`].
    pub(crate) fn index(self) -> usize {
        match self {
            Self::Table(op) => op.index(),
            Self::OutsideTable(i) => Operation::ALL.len() + i,
        }
    }
}

/// Runs one operation for `caller` on a JSON request body; returns the JSON response body.
///
/// The name is parsed once (`Named::parse`); names AWS has but coffer does not serve are
/// UnsupportedOperationException; names AWS does not have are UnknownOperationException.
pub fn dispatch(kms: &Kms, caller: &Caller, op: &str, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    match Named::parse(op) {
        Some(named) => dispatch_named(kms, caller, named, body),
        None => Err(unknown_operation()),
    }
}

/// [`dispatch`] of an operation already parsed: the facade's codec runs the table's row for
/// it ([`Kms::call_wire`]); one without a row is UnsupportedOperationException.
pub(crate) fn dispatch_named(
    kms: &Kms,
    caller: &Caller,
    named: Named,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let served = match named {
        Named::Table(op) => kms.call_wire(caller, op, body),
        Named::OutsideTable(_) => None,
    };
    served
        .unwrap_or_else(|| {
            Err(coffer::Error::unsupported(format!(
                "The {} operation is not supported by coffer.",
                named.as_str()
            )))
        })
        .map_err(ApiError::from)
}

/// The answer to a target that names no AWS KMS operation.
pub(crate) fn unknown_operation() -> ApiError {
    ApiError::wire(
        crate::api_error::WireCode::UnknownOperation,
        "The requested operation is not recognized.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_operations_are_exactly_the_dispatched_ones() {
        let kms = Kms::builder().build().unwrap();
        let caller = Caller::new("arn:aws:iam::111122223333:root").unwrap();
        for op in AWS_OPERATIONS {
            let r = dispatch(&kms, &caller, op, b"{}");
            let unsupported = matches!(&r, Err(e) if e.code() == "UnsupportedOperationException"
                && e.message().contains(op));
            assert_eq!(
                unsupported,
                !SUPPORTED_OPERATIONS.contains(op),
                "{op}: {r:?}"
            );
        }
        for op in SUPPORTED_OPERATIONS {
            assert!(AWS_OPERATIONS.contains(op), "{op}");
        }
        assert_eq!(
            dispatch(&kms, &caller, "NoSuchOperation", b"{}")
                .unwrap_err()
                .code(),
            "UnknownOperationException"
        );
    }

    /// The wire's list of AWS names is the operation table (56, the whole service model).
    #[test]
    fn aws_operations_are_the_table() {
        // Every AWS name parses once, to its own metric slot.
        for (i, name) in AWS_OPERATIONS.iter().enumerate() {
            assert_eq!(Named::parse(name).map(Named::index), Some(i), "{name}");
            assert_eq!(Named::parse(name).map(Named::as_str), Some(*name));
        }
        assert_eq!(Named::parse("encrypt"), None);
        let mut table: Vec<&str> = Operation::ALL.iter().map(|op| op.as_str()).collect();
        table.sort_unstable();
        let mut wire = AWS_OPERATIONS.to_vec();
        wire.sort_unstable();
        assert_eq!(wire, table);
    }

    /// Served = dispatched (above) = metric labels = audit event names.
    #[test]
    fn served_operations_have_metric_labels_and_audit_names() {
        use std::sync::Arc;

        use coffer::audit_log::MemorySink;

        use crate::metrics::Metrics;

        let sink = Arc::new(MemorySink::new());
        let kms = Kms::builder().audit_sink(sink.clone()).build().unwrap();
        let caller = Caller::new("arn:aws:iam::111122223333:root").unwrap();
        let metrics = Metrics::new();
        let served: Vec<Operation> = Operation::ALL
            .iter()
            .copied()
            .filter(|op| op.served())
            .collect();
        assert_eq!(
            served.iter().map(|op| op.as_str()).collect::<Vec<_>>(),
            SUPPORTED_OPERATIONS
        );
        // The facade's rows (what `call_wire` dispatches) are the served operations.
        let mut rows = Kms::SERVED.to_vec();
        rows.sort_by_key(|op| op.index());
        assert_eq!(rows, served);
        let mut recorded = Vec::new();
        for op in served {
            let name = op.as_str();
            assert_eq!(metrics.label(Metrics::kms_op(name)), name);
            assert_eq!(metrics.label(Metrics::kms_operation(op)), name);
            sink.clear();
            let _ = dispatch(&kms, &caller, name, b"{}");
            // An empty body fails decoding for most operations before any call begins; the
            // ones that record show the operation's name and its read-only column.
            let events = sink.events();
            assert!(events.len() <= 1, "{name}");
            if let Some(e) = events.first() {
                assert_eq!(e.event_name, name);
                assert_eq!(e.read_only, op.is_read_only(), "{name}");
                recorded.push(op);
            }
        }
        for op in [
            Operation::CreateKey,
            Operation::ListKeys,
            Operation::ListAliases,
            Operation::GenerateRandom,
        ] {
            assert!(recorded.contains(&op), "{op:?}");
        }
    }
}
