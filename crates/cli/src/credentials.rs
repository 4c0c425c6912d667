//! `coffer credentials …`: credential management of a running cofferd (`CofferAdmin.*`),
//! through cofferd's admin client library. Output is always JSON: the `admin-credentials.json`
//! shape for a new credential (the secret shown once), the response otherwise.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use cofferd::admin_client::{self, Client, ClientError, ClientOptions, Response};
use serde_json::{json, Value};

use crate::cli::{parse_pair, Global};
use crate::failure::Failure;

/// The longest grace period of a rotation (30 days).
const MAX_GRACE_SECS: i64 = 30 * 86_400;

/// `coffer credentials`.
#[derive(Debug, Args)]
#[command(after_help = "\
The endpoint comes from --endpoint-url or AWS_ENDPOINT_URL, the region from --region, the
credentials file's region, AWS_REGION, AWS_DEFAULT_REGION, else us-east-1. Profiles are not
read: give --credentials-file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.")]
pub(crate) struct CredentialsArgs {
    /// With an https:// endpoint: the certificates to trust (only these, no system roots)
    #[arg(long, global = true, value_name = "PEM")]
    ca_file: Option<PathBuf>,
    /// An administrator credential in the admin-credentials.json shape (mode 0600; default:
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)
    #[arg(long, global = true, value_name = "FILE")]
    credentials_file: Option<PathBuf>,
    #[command(subcommand)]
    command: CredentialsCmd,
}

#[derive(Debug, Subcommand)]
enum CredentialsCmd {
    /// Create a credential (least privilege: only what its identity policies and the key
    /// policies allow); prints it in the admin-credentials.json shape, the secret shown once
    Create {
        /// The principal it authenticates (arn:aws:iam::ACCOUNT:root, …:user/NAME,
        /// …:role/NAME)
        #[arg(long, value_name = "ARN")]
        principal: String,
        /// An administrator: it may call CofferAdmin, where its policies' coffer: actions
        /// decide what it may manage
        #[arg(long)]
        admin: bool,
        /// An identity policy (a JSON file; repeat for more)
        #[arg(long = "policy-file", value_name = "FILE")]
        policy_files: Vec<PathBuf>,
        /// A principal tag (repeat for more)
        #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_pair)]
        tags: Vec<(String, String)>,
        /// A description
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Bind it to a service (kms:ViaService, e.g. s3.us-east-1.amazonaws.com): the
        /// credential of a trusted integration acting for the principal; it may use the
        /// account's AWS managed key alias/aws/SERVICE, created on its first use
        #[arg(long, value_name = "ENDPOINT")]
        via_service: Option<String>,
        /// Write the credential to FILE (created mode 0600, never over an existing file)
        /// instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// List the credentials (never a secret); every page unless --limit or --marker
    List {
        /// One page of at most N
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: Option<i64>,
        /// The page after this marker (a previous page's NextMarker)
        #[arg(long, value_name = "M")]
        marker: Option<String>,
    },
    /// A new key for the same principal, policies and tags; the old one keeps working for
    /// the grace period
    Rotate {
        /// The access key id to rotate
        access_key_id: String,
        /// Seconds the old key keeps working (default 86400; 0: it stops at once)
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(0..=MAX_GRACE_SECS))]
        grace_secs: Option<i64>,
        /// Write the new credential to FILE (created mode 0600, never over an existing file)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Revoke a key at once (not the last administrator)
    Revoke {
        /// The access key id to revoke
        access_key_id: String,
    },
    /// Revoke the bootstrap administrator and delete admin-credentials.json; refused unless
    /// another lasting administrator and a lasting credential for the account root remain
    RetireBootstrap {
        /// Retire it even if no remaining credential is known to be able to manage keys
        #[arg(long)]
        force: bool,
    },
}

/// Runs `coffer credentials …`.
pub(crate) fn run(g: &Global, a: &CredentialsArgs) -> Result<(), Failure> {
    if g.local.data_dir.is_some() {
        return Err(Failure::Usage(
            "credentials manages a running cofferd: give --endpoint-url, not --data-dir".into(),
        ));
    }
    if g.profile.is_some() {
        return Err(Failure::Usage(
            "credentials reads no profile: give --credentials-file, or AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY"
                .into(),
        ));
    }
    // Input is read and checked before anything is sent.
    let policies = match &a.command {
        CredentialsCmd::Create { policy_files, .. } => policy_files
            .iter()
            .map(|f| admin_client::read_policy_file(f))
            .collect::<Result<Vec<_>, _>>()
            .map_err(failure)?,
        _ => Vec::new(),
    };
    // A new credential's file must not exist yet: checked before the credential is made,
    // whose secret would otherwise be lost (the write itself never replaces a file either).
    if let CredentialsCmd::Create { out: Some(p), .. }
    | CredentialsCmd::Rotate { out: Some(p), .. } = &a.command
    {
        if p.symlink_metadata().is_ok() {
            return Err(Failure::Usage(format!(
                "{} exists: a new credential is never written over a file (nothing was sent)",
                p.display()
            )));
        }
    }
    let mut opts = ClientOptions::default();
    opts.endpoint.clone_from(&g.endpoint_url);
    opts.region.clone_from(&g.region);
    opts.ca_file.clone_from(&a.ca_file);
    opts.credentials_file.clone_from(&a.credentials_file);
    let client = Client::new(&opts).map_err(failure)?;
    match &a.command {
        CredentialsCmd::Create {
            principal,
            admin,
            tags,
            description,
            via_service,
            out,
            ..
        } => {
            let tags: BTreeMap<&str, &str> =
                tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut body = json!({
                "PrincipalArn": principal,
                "Administrator": admin,
                "IdentityPolicies": policies,
                "Tags": tags,
            });
            if let Some(d) = description {
                body["Description"] = json!(d);
            }
            if let Some(v) = via_service {
                body["ViaService"] = json!(v);
            }
            let resp = client.call("CreateCredential", &body).map_err(failure)?;
            new_credential(&client, &resp, out.as_ref())
        }
        CredentialsCmd::List { limit, marker } => {
            if limit.is_some() || marker.is_some() {
                let mut body = json!({});
                if let Some(l) = limit {
                    body["Limit"] = json!(l);
                }
                if let Some(m) = marker {
                    body["Marker"] = json!(m);
                }
                let page = client.call("ListCredentials", &body).map_err(failure)?;
                return print_json(&page.json().map_err(failure)?);
            }
            let all = client.list_all().map_err(failure)?;
            print_json(&json!({ "Credentials": all, "Truncated": false }))
        }
        CredentialsCmd::Rotate {
            access_key_id,
            grace_secs,
            out,
        } => {
            let mut body = json!({ "AccessKeyId": access_key_id });
            if let Some(g) = grace_secs {
                body["GracePeriodSeconds"] = json!(g);
            }
            let resp = client.call("RotateCredential", &body).map_err(failure)?;
            new_credential(&client, &resp, out.as_ref())?;
            // Only the previous key's expiry is read from it (the secret stays in `resp`).
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "PascalCase")]
            struct Previous {
                #[serde(default)]
                previous_expires_at: Option<i64>,
            }
            let prev: Option<i64> = resp
                .json_as::<Previous>()
                .map_err(failure)?
                .previous_expires_at;
            note(&match prev {
                Some(t) => format!(
                    "the previous key {access_key_id} keeps working until {} (Unix {t})",
                    cofferd::amz_date(t)
                ),
                None => format!("the previous key {access_key_id} no longer works"),
            });
            Ok(())
        }
        CredentialsCmd::Revoke { access_key_id } => {
            let resp = client
                .call("RevokeCredential", &json!({ "AccessKeyId": access_key_id }))
                .map_err(failure)?;
            print_json(&resp.json().map_err(failure)?)
        }
        CredentialsCmd::RetireBootstrap { force } => {
            if !force {
                let all = client.list_all().map_err(failure)?;
                admin_client::check_retire_bootstrap(&all).map_err(|why| {
                    Failure::Usage(format!(
                        "refusing to retire the bootstrap credential: {why}"
                    ))
                })?;
            }
            let resp = client
                .call("RetireBootstrapCredential", &json!({}))
                .map_err(failure)?;
            print_json(&resp.json().map_err(failure)?)
        }
    }
}

/// The admin client's errors as the CLI's: a refusal exits 1, refused input 2, the rest 3.
fn failure(e: ClientError) -> Failure {
    match e {
        ClientError::Refused { code, message } => Failure::Service { code, message },
        ClientError::Input(m) => Failure::Usage(m),
        other => Failure::Io(other.to_string()),
    }
}

/// A note for the operator on stderr.
fn note(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "coffer credentials: {msg}");
}

fn print_json(v: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Failure::Io(format!("formatting the response: {e}")))?;
    crate::output::emit(&format!("{text}\n"))
}

/// Prints the new credential of `resp` in the admin-credentials.json shape, or writes it to
/// `out` (a new file, mode 0600); the secret is never shown again.
fn new_credential(client: &Client, resp: &Response, out: Option<&PathBuf>) -> Result<(), Failure> {
    let text = admin_client::credential_file_text(resp, client.region()).map_err(failure)?;
    match out {
        Some(path) => {
            admin_client::write_new_private(path, text.expose())
                .map_err(|e| Failure::io(&format!("writing {}", path.display()), &e))?;
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "PascalCase")]
            struct Who {
                access_key_id: String,
                principal_arn: String,
            }
            let who = resp.json_as::<Who>().map_err(failure)?;
            note(&format!(
                "wrote {} ({}) to {} (mode 0600); the secret is not shown again",
                who.access_key_id,
                who.principal_arn,
                path.display()
            ));
        }
        None => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.expose())
                .and_then(|()| o.flush())
                .map_err(|e| Failure::io("writing stdout", &e))?;
            note(
                "the secret access key above is shown only this once: store it now \
                 (or use --out FILE)",
            );
        }
    }
    Ok(())
}
