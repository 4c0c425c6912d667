//! PKCS#11 tokens in cofferd's configuration: the root key held in a token
//! (`[root_key] provider = "pkcs11"`) and the clusters custom key stores may use
//! (`[[hsm_clusters]]`), turned into `coffer-hsm`'s types (docs/KEYSTORES.md).

use std::path::Path;
use std::sync::Arc;

use coffer_hsm::{ClusterConfig, PinSource, RootKeyConfig, TokenConfig, TokenSelector};
use coffer_keys::HsmClusters;

use crate::config::{Config, HsmClusterEntry, Pkcs11RootSettings, RootKeyProvider};
use crate::Error;

fn token(module: &Path, label: Option<&String>, slot: Option<u64>) -> Option<TokenConfig> {
    let selector = match (label, slot) {
        (Some(label), None) => TokenSelector::Label(label.clone()),
        (None, Some(slot)) => TokenSelector::Slot(slot),
        _ => return None,
    };
    Some(TokenConfig::new(module, selector))
}

/// The root key's configuration for `coffer-hsm`; `None` if the settings name no token or
/// no PIN source, or both of either (`validate_config` reports which).
pub(crate) fn root_key_config(p: &Pkcs11RootSettings) -> Option<RootKeyConfig> {
    let pin = match (&p.pin_file, &p.pin_env) {
        (Some(file), None) => PinSource::File(file.clone()),
        (None, Some(var)) => PinSource::Env(var.clone()),
        _ => return None,
    };
    Some(RootKeyConfig {
        token: token(&p.module, p.token_label.as_ref(), p.slot)?,
        pin,
        key_label: p.key_label.clone(),
    })
}

/// Checks the PKCS#11 parts of a configuration without loading any module; the message names
/// the key.
pub(crate) fn check(c: &Config) -> Result<(), &'static str> {
    let mut root_token = None;
    if let RootKeyProvider::Pkcs11(p) = &c.root_key {
        if p.token_label.is_some() == p.slot.is_some() {
            return Err("root_key.token_label / root_key.slot: one or the other");
        }
        if p.pin_file.is_some() == p.pin_env.is_some() {
            return Err(
                "root_key.pin_file / root_key.pin_env: one or the other (the PIN itself is \
                 never written in the configuration)",
            );
        }
        if p.pin_env
            .as_deref()
            .is_some_and(|v| v.is_empty() || v.contains(['=', '\0']))
        {
            return Err("root_key.pin_env: not a variable name");
        }
        let config = root_key_config(p).ok_or("root_key: incomplete PKCS#11 settings")?;
        config.validate().map_err(|_| {
            "root_key: module must be a path, token_label 1 to 32 bytes without trailing \
             blanks, key_label 1 to 128 bytes"
        })?;
        root_token = Some(config.token);
    }
    let mut ids = Vec::with_capacity(c.hsm_clusters.len());
    for entry in &c.hsm_clusters {
        if !coffer_hsm::valid_cluster_id(&entry.id) {
            return Err(
                "hsm_clusters.id: `cluster-` and 11 to 16 letters or digits, e.g. \
                 cluster-1234567abcd",
            );
        }
        if ids.contains(&&entry.id) {
            return Err("hsm_clusters.id: each id once");
        }
        ids.push(&entry.id);
        let token = token(&entry.module, entry.token_label.as_ref(), entry.slot)
            .ok_or("hsm_clusters.token_label / hsm_clusters.slot: one or the other")?;
        token.validate().map_err(|_| {
            "hsm_clusters: module must be a path, token_label 1 to 32 bytes without trailing \
             blanks"
        })?;
        if root_token.as_ref() == Some(&token) {
            return Err(
                "hsm_clusters: a cluster names the root key's token; custom key stores need \
                 a token of their own",
            );
        }
    }
    Ok(())
}

fn cluster_config(entry: &HsmClusterEntry) -> Result<ClusterConfig, Error> {
    let token = token(&entry.module, entry.token_label.as_ref(), entry.slot).ok_or(
        Error::Config("hsm_clusters.token_label / hsm_clusters.slot: one or the other"),
    )?;
    let trust_anchor_pem = match &entry.trust_anchor {
        Some(path) => Some(crate::config_file::read_text(path)?),
        None => None,
    };
    Ok(ClusterConfig {
        id: entry.id.clone(),
        token,
        trust_anchor_pem,
    })
}

/// The configured HSM clusters (`[[hsm_clusters]]`), for custom key stores: validated and
/// their trust anchors read, no module loaded (a cluster's token may be absent at start; an
/// unknown module or token is reported when a key store connects).
pub fn hsm_clusters_from_config(config: &Config) -> Result<Arc<dyn HsmClusters>, Error> {
    check(config).map_err(Error::Config)?;
    let configs = config
        .hsm_clusters
        .iter()
        .map(cluster_config)
        .collect::<Result<Vec<_>, _>>()?;
    let clusters = coffer_hsm::ConfiguredClusters::new(configs).map_err(Error::Hsm)?;
    Ok(Arc::new(clusters))
}

/// Opens the root key in its token: made there (never extractable) when the data directory is
/// new (`create`), found by its label afterwards. Fails, naming the module and token and never
/// the PIN, when the token is absent, the PIN wrong or the key object missing.
pub(crate) fn open_root_key(
    p: &Pkcs11RootSettings,
    create: bool,
) -> Result<coffer_hsm::Pkcs11RootKey, Error> {
    let config = root_key_config(p).ok_or(Error::Config(
        "root_key: a PKCS#11 root key needs one of token_label / slot and one of pin_file / \
         pin_env",
    ))?;
    coffer_hsm::Pkcs11RootKey::open(&config, create).map_err(Error::Hsm)
}
