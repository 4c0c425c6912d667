//! `cofferd --seed FILE`: keys, aliases and grants declared in a TOML or YAML file (by its
//! extension: `.yaml`/`.yml` is YAML, anything else TOML) and applied at start, idempotently (a key is known by its alias: a seed applied twice changes nothing), as
//! local-kms does. Applied through the facade as the account's root, so every change is
//! authorized and audited like any call.
//!
//! ```toml
//! [[keys]]
//! alias = "alias/app"              # required: how the seed knows the key again
//! aliases = ["alias/app-v2"]       # optional further aliases (created when missing)
//! description = "the app's key"
//! key_spec = "SYMMETRIC_DEFAULT"   # any spec coffer serves (default SYMMETRIC_DEFAULT)
//! key_usage = "ENCRYPT_DECRYPT"    # default: the spec's first usage
//! policy = "{...}"                 # optional key policy (JSON)
//! tags = { team = "payments" }
//! material = "base64…"             # optional: imported material (origin EXTERNAL), for
//!                                  # reproducible MACs, signatures and public keys
//!
//! [[grants]]
//! alias = "alias/app"
//! name = "app-runtime"             # required: grants are idempotent by name
//! grantee = "arn:aws:iam::111122223333:role/app"
//! operations = ["Encrypt", "Decrypt"]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use coffer::model::*;
use coffer::{AccountId, Caller, Kms, SecretBytes};
use serde::Deserialize;

use crate::Error;

/// A seed file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// Keys to create (with their aliases).
    #[serde(default)]
    pub keys: Vec<SeedKey>,
    /// Grants to create.
    #[serde(default)]
    pub grants: Vec<SeedGrant>,
}

/// One key of a seed. Its material is wiped on drop and never printed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedKey {
    /// `alias/…`: the key's name in the seed.
    pub alias: String,
    /// Further aliases of the key, each created when it does not exist yet.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// Its spec (AWS's spelling).
    #[serde(default)]
    pub key_spec: Option<String>,
    /// Its usage (AWS's spelling).
    #[serde(default)]
    pub key_usage: Option<String>,
    /// A key policy (JSON).
    #[serde(default)]
    pub policy: Option<String>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Key material to import (base64): the key is made with origin EXTERNAL.
    #[serde(default)]
    pub material: Option<String>,
}

impl std::fmt::Debug for SeedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedKey")
            .field("alias", &self.alias)
            .field("aliases", &self.aliases)
            .field("key_spec", &self.key_spec)
            .field("key_usage", &self.key_usage)
            .field("material", &self.material.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl Drop for SeedKey {
    fn drop(&mut self) {
        if let Some(m) = self.material.take() {
            coffer_crypto::wipe(&mut m.into_bytes());
        }
    }
}

/// One grant of a seed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGrant {
    /// The alias of a seeded key.
    pub alias: String,
    /// The grant's name (grants are idempotent by name).
    pub name: String,
    /// The grantee principal's ARN.
    pub grantee: String,
    /// The operations it allows (AWS's names).
    pub operations: Vec<String>,
}

/// What applying a seed did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Aliases of the keys created now.
    pub created: Vec<String>,
    /// Aliases that already existed (their keys left as they are).
    pub existing: Vec<String>,
    /// Further aliases (`aliases = [...]`) created now.
    pub aliases: Vec<String>,
    /// Grants applied (created, or found by name).
    pub grants: usize,
}

/// The languages a seed may be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// TOML (the default).
    Toml,
    /// YAML (`.yaml`, `.yml`).
    Yaml,
}

impl Format {
    /// The format a file's extension names: `.yaml`/`.yml` (any case) is YAML, anything else
    /// TOML.
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml") => {
                Format::Yaml
            }
            _ => Format::Toml,
        }
    }
}

/// Reads a seed file (its text wiped once parsed: it may hold key material).
pub fn load(path: &Path) -> Result<Seed, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
    let seed = parse(&text, Format::of(path)).map_err(|why| seed_error(path, why));
    coffer_crypto::wipe(&mut text.into_bytes());
    seed
}

/// Parses a seed's text. The error names the line and what is wrong, never a value (a value
/// may be key material).
pub fn parse(text: &str, format: Format) -> Result<Seed, String> {
    match format {
        Format::Toml => toml::from_str(text).map_err(|e| e.message().to_owned()),
        Format::Yaml => serde_saphyr::from_str(text).map_err(|e| yaml_error(&e)),
    }
}

/// A YAML error's position and kind, without the snippet of input serde-saphyr renders.
fn yaml_error(e: &serde_saphyr::Error) -> String {
    let shown = e.to_string();
    // The first line is the message; later lines quote the input around it.
    let first = shown.lines().next().unwrap_or("not a valid seed");
    format!("YAML: {first}")
}

fn seed_error(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::io(path)(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("seed file: {why}"),
    ))
}

fn kms_error(e: coffer::Error) -> Error {
    Error::Kms(e)
}

/// Applies `seed` as the root of `account`.
pub fn apply(kms: &Kms, account: &AccountId, seed: &Seed) -> Result<SeedReport, Error> {
    let root =
        Caller::new(&format!("arn:aws:iam::{account}:root")).map_err(|e| kms_error(e.into()))?;
    let mut report = SeedReport::default();
    for key in &seed.keys {
        let existing = kms
            .describe_key(
                &root,
                DescribeKeyRequest {
                    key_id: key.alias.clone(),
                    ..Default::default()
                },
            )
            .map(|_| ());
        match existing {
            Ok(()) => report.existing.push(key.alias.clone()),
            Err(e) if e.code() == "NotFoundException" => {
                create_key(kms, &root, key)?;
                report.created.push(key.alias.clone());
            }
            Err(e) => return Err(kms_error(e)),
        }
        for alias in &key.aliases {
            if add_alias(kms, &root, &key.alias, alias)? {
                report.aliases.push(alias.clone());
            }
        }
    }
    for grant in &seed.grants {
        let operations = grant
            .operations
            .iter()
            .map(|o| GrantOperation::parse(o))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| kms_error(coffer::Error::validation(e.to_string())))?;
        // CreateGrant takes a key id or ARN, not an alias (as AWS).
        let key_id = kms
            .describe_key(
                &root,
                DescribeKeyRequest {
                    key_id: grant.alias.clone(),
                    ..Default::default()
                },
            )
            .map_err(kms_error)?
            .key_metadata
            .arn;
        kms.create_grant(
            &root,
            CreateGrantRequest {
                key_id,
                grantee_principal: grant.grantee.clone(),
                operations,
                name: Some(grant.name.clone()),
                ..Default::default()
            },
        )
        .map_err(kms_error)?;
        report.grants += 1;
    }
    Ok(report)
}

/// Creates `alias` for the key `target` (an alias) unless it exists; true if it was created.
/// An existing alias naming another key is left as it is (a seed never moves an alias).
fn add_alias(kms: &Kms, root: &Caller, target: &str, alias: &str) -> Result<bool, Error> {
    let found = kms.describe_key(
        root,
        DescribeKeyRequest {
            key_id: alias.to_owned(),
            ..Default::default()
        },
    );
    match found {
        Ok(_) => return Ok(false),
        Err(e) if e.code() == "NotFoundException" => {}
        Err(e) => return Err(kms_error(e)),
    }
    let key_id = kms
        .describe_key(
            root,
            DescribeKeyRequest {
                key_id: target.to_owned(),
                ..Default::default()
            },
        )
        .map_err(kms_error)?
        .key_metadata
        .key_id;
    kms.create_alias(
        root,
        AliasRequest {
            alias_name: alias.to_owned(),
            target_key_id: key_id,
        },
    )
    .map_err(kms_error)?;
    Ok(true)
}

fn enumeration<T>(
    value: &Option<String>,
    parse: fn(&str) -> Option<T>,
    what: &str,
) -> Result<Option<T>, Error> {
    value
        .as_deref()
        .map(|v| {
            parse(v).ok_or_else(|| {
                kms_error(coffer::Error::validation(format!(
                    "{what} {v} is not one AWS names"
                )))
            })
        })
        .transpose()
}

fn create_key(kms: &Kms, root: &Caller, key: &SeedKey) -> Result<(), Error> {
    let key_spec = enumeration(&key.key_spec, KeySpec::parse, "KeySpec")?;
    let spec = key_spec.unwrap_or(KeySpec::SymmetricDefault);
    let key_usage = enumeration(&key.key_usage, KeyUsage::parse, "KeyUsage")?
        .or_else(|| spec.allowed_usages().first().copied());
    let material = key
        .material
        .as_deref()
        .map(|m| {
            base64::engine::general_purpose::STANDARD
                .decode(m.trim())
                .map(SecretBytes::new)
                .map_err(|_| kms_error(coffer::Error::validation("material is not base64")))
        })
        .transpose()?;
    let created = kms
        .create_key(
            root,
            CreateKeyRequest {
                description: key.description.clone(),
                key_spec,
                key_usage,
                policy: key.policy.clone(),
                tags: key
                    .tags
                    .iter()
                    .map(|(k, v)| Tag {
                        tag_key: k.clone(),
                        tag_value: v.clone(),
                    })
                    .collect(),
                origin: material.as_ref().map(|_| Origin::External),
                ..Default::default()
            },
        )
        .map_err(kms_error)?
        .key_metadata;
    if let Some(material) = material {
        import(kms, root, &created.key_id, spec, &material)?;
    }
    kms.create_alias(
        root,
        AliasRequest {
            alias_name: key.alias.clone(),
            target_key_id: created.key_id,
        },
    )
    .map_err(kms_error)
}

/// Imports `material` into `key_id`: wrapped here with RSA_AES_KEY_WRAP_SHA_256 (any size of
/// material) to a fresh wrapping key, as a client would.
fn import(
    kms: &Kms,
    root: &Caller,
    key_id: &str,
    spec: KeySpec,
    material: &SecretBytes,
) -> Result<(), Error> {
    let params = kms
        .get_parameters_for_import(
            root,
            GetParametersForImportRequest {
                key_id: key_id.to_owned(),
                wrapping_algorithm: Some(AlgorithmSpec::RsaAesKeyWrapSha256),
                wrapping_key_spec: Some(WrappingKeySpec::Rsa3072),
            },
        )
        .map_err(kms_error)?;
    let rng = coffer::SystemRandom::new();
    let kek = SecretBytes::random(&rng, 32).map_err(|e| kms_error(e.into()))?;
    let internal = |_| {
        kms_error(coffer::Error::validation(format!(
            "the material of a {spec} key could not be wrapped"
        )))
    };
    let mut wrapped = coffer_crypto::asym::encrypt_oaep(
        &params.public_key,
        coffer_crypto::asym::OaepHash::Sha256,
        kek.expose(),
    )
    .map_err(internal)?;
    wrapped.extend(
        coffer_crypto::keywrap::aes_kwp_wrap(kek.expose(), material.expose()).map_err(internal)?,
    );
    kms.import_key_material(
        root,
        ImportKeyMaterialRequest {
            key_id: key_id.to_owned(),
            import_token: params.import_token,
            encrypted_key_material: SecretBytes::new(wrapped),
            expiration_model: Some(ExpirationModel::KeyMaterialDoesNotExpire),
            valid_to: None,
        },
    )
    .map(|_| ())
    .map_err(kms_error)
}
