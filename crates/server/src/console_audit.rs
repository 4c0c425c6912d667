//! The web console's audit trail (`GET /console/api/audit`).

use serde_json::{json, Value};

/// The answer to a lookup (filled in by the next commit).
pub(crate) fn lookup() -> Value {
    json!({ "events": [], "nextCursor": null })
}
