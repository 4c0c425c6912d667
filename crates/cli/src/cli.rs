//! The command line: every command, flag and argument, with its help text.

use std::path::PathBuf;

use aws_sdk_kms::types::{EncryptionAlgorithmSpec, GrantOperation, KeySpec, KeyUsageType};
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// The exit codes, shown under `coffer --help` and in docs/CLI.md.
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
  0  done
  1  the service refused the request (its error code and message on stderr,
     e.g. `NotFoundException: ...`)
  2  usage: a bad command line, or input refused before it was sent (a policy
     that is not a JSON document with a Statement, plaintext empty or over
     4096 bytes)
  3  I/O, configuration or connection errors (a file, the endpoint, credentials,
     a --data-dir that is missing or held by a running cofferd)

`coffer audit verify` exits 0 when the log verifies, 1 when it does not, 2 for bad
arguments or unreadable input.";

/// coffer: a command-line client for cofferd, or AWS KMS, over the AWS KMS protocol.
///
/// The endpoint, region and credentials come from the flags, then the AWS environment
/// variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
/// AWS_SESSION_TOKEN, AWS_PROFILE, ...) and the shared ~/.aws/config and ~/.aws/credentials
/// files, as the aws CLI reads them.
#[derive(Debug, Parser)]
#[command(
    name = "coffer",
    version,
    propagate_version = true,
    after_help = EXIT_CODES,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The service's URL, e.g. http://127.0.0.1:8080 for a local cofferd (default:
    /// AWS_ENDPOINT_URL, the profile's endpoint_url, else AWS KMS in the region)
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,
    /// The region to sign for (default: AWS_REGION, then the profile's region)
    #[arg(long, global = true, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// A named profile of ~/.aws/config and ~/.aws/credentials (default: AWS_PROFILE)
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// Tables for people, or JSON (the AWS response shape) for scripts
    #[arg(long, global = true, value_enum, default_value_t = Output::Table, value_name = "FORMAT")]
    pub(crate) output: Output,
    #[command(flatten)]
    pub(crate) local: crate::local::LocalArgs,
}

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Aligned columns
    Table,
    /// The AWS response shape as JSON (dates as RFC 3339 strings, binary as base64)
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create, inspect, enable, disable, rotate and delete KMS keys
    #[command(subcommand)]
    Key(KeyCmd),
    /// Friendly names for keys (alias/NAME)
    #[command(subcommand)]
    Alias(AliasCmd),
    /// Tags on a key
    #[command(subcommand)]
    Tag(TagCmd),
    /// A key's key policy
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Grants on a key
    #[command(subcommand)]
    Grant(GrantCmd),
    /// Encrypt at most 4096 bytes with a KMS key; the binary ciphertext goes to -o
    Encrypt(EncryptArgs),
    /// Decrypt a ciphertext made by `coffer encrypt` (or KMS Encrypt); the plaintext goes to -o
    Decrypt(DecryptArgs),
    /// Manage a running cofferd's credentials (administrator credentials only)
    Credentials(crate::credentials::CredentialsArgs),
    /// Verify a data directory's audit log
    #[command(subcommand)]
    Audit(crate::audit::AuditCmd),
    /// Encrypt or decrypt data of any size, streaming, in coffer's envelope format
    #[command(subcommand)]
    Envelope(crate::envelope::EnvelopeCmd),
    /// Print a shell completion script
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a directory
    Man {
        /// Write coffer.1, coffer-key.1, coffer-key-create.1, ... into DIR
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCmd {
    /// Create a KMS key (a symmetric encryption key unless --spec/--usage say otherwise)
    Create {
        /// The key spec
        #[arg(long, value_name = "SPEC", value_parser = PossibleValuesParser::new(KeySpec::values()))]
        spec: Option<String>,
        /// The key usage
        #[arg(long, value_name = "USAGE", value_parser = PossibleValuesParser::new(KeyUsageType::values()))]
        usage: Option<String>,
        /// A description
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// A tag (repeat for more)
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_pair)]
        tags: Vec<(String, String)>,
        /// Where the key material comes from: generated (AWS_KMS) or imported later (EXTERNAL)
        #[arg(long, value_name = "ORIGIN", value_parser = PossibleValuesParser::new(["AWS_KMS", "EXTERNAL"]))]
        origin: Option<String>,
    },
    /// Show a key's metadata
    Describe {
        /// Key id, key ARN, alias name (alias/NAME) or alias ARN
        key: String,
    },
    /// List the keys of the account and region
    List,
    /// Enable a key
    Enable {
        /// Key id or key ARN
        key: String,
    },
    /// Disable a key (it cannot be used until enabled)
    Disable {
        /// Key id or key ARN
        key: String,
    },
    /// Schedule a key's deletion after a waiting period
    ScheduleDeletion {
        /// Key id or key ARN
        key: String,
        /// Waiting period in days (AWS KMS takes 7 to 30; default 30)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(1..=365))]
        days: Option<i32>,
    },
    /// Cancel a scheduled deletion (the key comes back disabled)
    CancelDeletion {
        /// Key id or key ARN
        key: String,
    },
    /// Rotate a key's material now
    Rotate {
        /// Key id or key ARN
        key: String,
    },
    /// List a key's completed rotations
    Rotations {
        /// Key id or key ARN
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AliasCmd {
    /// Create an alias for a key
    Create {
        /// alias/NAME
        alias: String,
        /// Key id or key ARN
        key: String,
    },
    /// Point an alias at another key
    Update {
        /// alias/NAME
        alias: String,
        /// Key id or key ARN
        key: String,
    },
    /// Delete an alias (not its key)
    Delete {
        /// alias/NAME
        alias: String,
    },
    /// List aliases (all, or a key's)
    List {
        /// Only this key's aliases
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TagCmd {
    /// Add or replace tags on a key
    Add {
        /// Key id or key ARN
        key: String,
        /// Tags
        #[arg(required = true, value_name = "KEY=VALUE", value_parser = parse_pair)]
        tags: Vec<(String, String)>,
    },
    /// Remove tags from a key
    Remove {
        /// Key id or key ARN
        key: String,
        /// Tag keys
        #[arg(required = true, value_name = "TAG_KEY")]
        tag_keys: Vec<String>,
    },
    /// List a key's tags
    List {
        /// Key id or key ARN
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCmd {
    /// Print a key's policy
    Get {
        /// Key id or key ARN
        key: String,
        /// The policy's name
        #[arg(long, value_name = "NAME", default_value = "default")]
        name: String,
    },
    /// Replace a key's policy with the JSON document in FILE (- for stdin), checked before it
    /// is sent
    Put {
        /// Key id or key ARN
        key: String,
        /// A JSON policy document with a Statement
        file: String,
        /// The policy's name
        #[arg(long, value_name = "NAME", default_value = "default")]
        name: String,
        /// Skip the service's check that the caller can still manage the key afterwards
        #[arg(long)]
        bypass_policy_lockout_safety_check: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum GrantCmd {
    /// Give a principal permission to use a key for some operations
    Create {
        /// Key id or key ARN
        key: String,
        /// The principal that gets the permissions (an ARN)
        #[arg(long, value_name = "ARN")]
        grantee: String,
        /// The operations it allows, comma-separated
        #[arg(long, required = true, value_name = "OP,...", value_delimiter = ',',
              value_parser = PossibleValuesParser::new(GrantOperation::values()))]
        operations: Vec<String>,
        /// A principal that may retire the grant (an ARN)
        #[arg(long, value_name = "ARN")]
        retiring_principal: Option<String>,
        /// A name for the grant
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Allow only requests whose encryption context includes this pair (repeat for more)
        #[arg(long = "context-subset", value_name = "KEY=VALUE", value_parser = parse_pair,
              conflicts_with = "context_equals")]
        context_subset: Vec<(String, String)>,
        /// Allow only requests whose encryption context is exactly these pairs
        #[arg(long = "context-equals", value_name = "KEY=VALUE", value_parser = parse_pair)]
        context_equals: Vec<(String, String)>,
    },
    /// List a key's grants
    List {
        /// Key id or key ARN
        key: String,
    },
    /// Retire a grant, by its token or by key and grant id
    Retire {
        /// Key id or key ARN (with GRANT_ID)
        #[arg(required_unless_present = "grant_token", requires = "grant_id")]
        key: Option<String>,
        /// The grant's id
        #[arg(required_unless_present = "grant_token")]
        grant_id: Option<String>,
        /// The grant token CreateGrant returned
        #[arg(long, value_name = "TOKEN", conflicts_with = "key")]
        grant_token: Option<String>,
    },
    /// Revoke a grant
    Revoke {
        /// Key id or key ARN
        key: String,
        /// The grant's id
        grant_id: String,
    },
}

/// `coffer encrypt`.
#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    /// Key id, key ARN, alias name or alias ARN
    #[arg(long, value_name = "KEY")]
    pub(crate) key: String,
    /// An encryption context pair, needed again to decrypt (repeat for more)
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub(crate) context: Vec<(String, String)>,
    /// The algorithm (default SYMMETRIC_DEFAULT; RSAES_OAEP_* for RSA keys)
    #[arg(long, value_name = "ALG", value_parser = PossibleValuesParser::new(EncryptionAlgorithmSpec::values()))]
    pub(crate) algorithm: Option<String>,
    /// The plaintext, 1 to 4096 bytes (a file, or - for stdin)
    #[arg(value_name = "IN", default_value = "-")]
    pub(crate) input: String,
    /// Where the binary ciphertext goes (a file, or - for stdout, which must not be a terminal)
    #[arg(short = 'o', long = "out", value_name = "OUT", default_value = "-")]
    pub(crate) out: String,
}

/// `coffer decrypt`.
#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    /// The key to decrypt with (required for asymmetric keys; for symmetric ciphertexts it is
    /// read from the ciphertext, and this only checks it)
    #[arg(long, value_name = "KEY")]
    pub(crate) key: Option<String>,
    /// The encryption context given to encrypt (repeat for more)
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub(crate) context: Vec<(String, String)>,
    /// The algorithm (default SYMMETRIC_DEFAULT)
    #[arg(long, value_name = "ALG", value_parser = PossibleValuesParser::new(EncryptionAlgorithmSpec::values()))]
    pub(crate) algorithm: Option<String>,
    /// The ciphertext (a file, or - for stdin)
    #[arg(value_name = "IN", default_value = "-")]
    pub(crate) input: String,
    /// Where the plaintext goes (a file, created mode 0600, or - for stdout); with
    /// --output json it must be a file
    #[arg(short = 'o', long = "out", value_name = "OUT", default_value = "-")]
    pub(crate) out: String,
}

/// `KEY=VALUE` (the value may hold `=`; the key may not be empty).
pub(crate) fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn pairs() {
        assert_eq!(parse_pair("a=b=c"), Ok(("a".into(), "b=c".into())));
        assert_eq!(parse_pair("a="), Ok(("a".into(), String::new())));
        assert!(parse_pair("=b").is_err());
        assert!(parse_pair("ab").is_err());
    }
}
