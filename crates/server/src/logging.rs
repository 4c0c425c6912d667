//! Structured logs on stderr with `tracing`: text or JSON lines, filtered by a directive.
//! Every request runs in a span carrying its request id; nothing secret is ever a field.

use crate::{Error, LogFormat};

/// Installs the process-wide log subscriber: `format` lines on stderr, filtered by `filter`
/// (`info`, `cofferd=debug,warn`, …). Call once, at start; a second call is an error.
pub fn init_logging(format: LogFormat, filter: &str) -> Result<(), Error> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|_| Error::Config("the log level is not a valid tracing filter"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let installed = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    installed.map_err(|_| Error::Config("a log subscriber is already installed"))
}
