//! `cofferd credentials …`: the credential-management client of a running cofferd.

/// Runs `cofferd credentials ARGS…`, writing results to `out`; the error is a message for the
/// operator.
pub fn run(_args: &[String], _out: &mut dyn std::io::Write) -> Result<(), String> {
    Err("not implemented yet".into())
}
