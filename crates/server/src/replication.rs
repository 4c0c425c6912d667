//! Multi-Region keys between cofferd instances: the peer regions a cofferd reaches (the
//! configuration file's `[[peers]]`, the `--peer` flag), the transport the facade replicates
//! through (SigV4-signed `CofferAdmin.ReplicaOffer` and `CofferAdmin.InstallReplica` calls with
//! a credential of the peer, over the blocking admin client), and the two admin operations a
//! replica region answers. docs/MULTI_REGION.md.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use coffer::{
    Caller, Kms, MultiRegionNotice, Region, ReplicaOffer, ReplicaOfferRequest, ReplicaPackage,
};
use serde::{Deserialize, Serialize};

use crate::admin_client::{Client, ClientError, ClientOptions};
use crate::{ApiError, Error};

/// The admin operation of step 1 (in the replica region).
pub const OFFER_OPERATION: &str = "ReplicaOffer";
/// The admin operation of step 2 (in the replica region).
pub const INSTALL_OPERATION: &str = "InstallReplica";
/// The admin operation of a change of the key set (replica deleted, primary moved).
pub const NOTICE_OPERATION: &str = "MultiRegionNotice";

/// One peer region: where its cofferd listens and the credential (of that cofferd) this one
/// signs with. The secret is read from `credentials_file`, never given on a command line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The peer's region.
    pub region: String,
    /// `https://HOST:PORT`, or `http://` on a loopback address only.
    pub endpoint: String,
    /// A credentials file in the `admin-credentials.json` shape (mode 0600): a credential of
    /// the peer whose identity policies allow `coffer:AcceptReplica`.
    pub credentials_file: PathBuf,
    /// With https: the certificates to trust (only these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

/// Parses `--peer REGION=URL,credentials=FILE[,ca=FILE]`.
pub fn parse_peer_flag(v: &str) -> Result<PeerConfig, String> {
    let usage = || format!("REGION=URL,credentials=FILE[,ca=FILE], not {v}");
    let mut parts = v.split(',');
    let (region, endpoint) = parts
        .next()
        .and_then(|p| p.split_once('='))
        .ok_or_else(usage)?;
    let mut credentials_file = None;
    let mut ca_file = None;
    for p in parts {
        match p.split_once('=') {
            Some(("credentials", f)) if !f.is_empty() => credentials_file = Some(PathBuf::from(f)),
            Some(("ca", f)) if !f.is_empty() => ca_file = Some(PathBuf::from(f)),
            _ => return Err(usage()),
        }
    }
    Ok(PeerConfig {
        region: region.to_owned(),
        endpoint: endpoint.to_owned(),
        credentials_file: credentials_file.ok_or_else(usage)?,
        ca_file,
    })
}

/// The reason a peer cannot be used: it names the peer's region, never a secret.
fn peer_error(region: &str, message: impl std::fmt::Display) -> Error {
    Error::ConfigFile {
        path: PathBuf::from(format!("peers[{region}]")),
        message: message.to_string(),
    }
}

/// Whether `endpoint` is `http://` to a host other than a loopback address.
fn plain_off_loopback(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.eq_ignore_ascii_case("localhost") {
        return false;
    }
    !host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The facade's transport over the configured peers.
struct PeerTransport {
    peers: BTreeMap<String, Client>,
}

impl std::fmt::Debug for PeerTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerTransport")
            .field("regions", &self.peers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Checks the peers and gives `kms` a transport over them (nothing is sent yet). No peers:
/// nothing to do (ReplicateKey is then refused).
pub fn install(kms: &Kms, own_region: &str, peers: &[PeerConfig]) -> Result<(), Error> {
    if peers.is_empty() {
        return Ok(());
    }
    let mut clients = BTreeMap::new();
    for p in peers {
        Region::parse(&p.region).map_err(|_| peer_error(&p.region, "not a region name"))?;
        if p.region == own_region {
            return Err(peer_error(
                &p.region,
                "a peer cannot be this cofferd's own region",
            ));
        }
        if plain_off_loopback(&p.endpoint) {
            return Err(peer_error(
                &p.region,
                "plain http:// is allowed to a loopback address only: use https:// and ca_file",
            ));
        }
        let opts = ClientOptions {
            endpoint: Some(p.endpoint.clone()),
            ca_file: p.ca_file.clone(),
            credentials_file: Some(p.credentials_file.clone()),
            region: Some(p.region.clone()),
        };
        let client = Client::new(&opts).map_err(|e| peer_error(&p.region, e))?;
        if clients.insert(p.region.clone(), client).is_some() {
            return Err(peer_error(&p.region, "the region is given twice"));
        }
    }
    tracing::info!(
        regions = ?clients.keys().collect::<Vec<_>>(),
        "multi-Region peers configured"
    );
    kms.set_replica_transport(Arc::new(PeerTransport { peers: clients }));
    Ok(())
}

impl PeerTransport {
    fn call(
        &self,
        region: &Region,
        op: &str,
        body: &serde_json::Value,
    ) -> Result<Vec<u8>, coffer::Error> {
        let client = self.peers.get(region.as_str()).ok_or_else(|| {
            coffer::Error::unsupported(format!(
                "No peer is configured for region {region}: this cofferd cannot reach it."
            ))
        })?;
        match client.call(op, body) {
            Ok(r) => serde_json::to_vec(&r.json().map_err(|e| {
                coffer::Error::dependency_timeout(format!("{region} answered unexpectedly: {e}"))
            })?)
            .map_err(coffer::Error::internal),
            // The peer's own refusal, under its own exception name (a refusal of the peer's
            // credential is this cofferd's misconfiguration: AccessDenied says so).
            Err(ClientError::Refused { code, message }) => {
                tracing::warn!(%region, %code, "peer region refused a replication call");
                Err(
                    coffer::Error::from_code(&code, format!("{region}: {message}"))
                        .filter(|e| e.http_status() < 500 && code != "KMSInternalException")
                        .unwrap_or_else(|| {
                            coffer::Error::dependency_timeout(format!(
                                "{region} could not complete the request; retry."
                            ))
                        }),
                )
            }
            Err(e) => {
                tracing::warn!(%region, error = %e, "peer region did not answer");
                Err(coffer::Error::dependency_timeout(format!(
                    "{region} did not answer; retry."
                )))
            }
        }
    }
}

impl coffer::ReplicaTransport for PeerTransport {
    fn offer(
        &self,
        region: &Region,
        request: &ReplicaOfferRequest,
    ) -> Result<ReplicaOffer, coffer::Error> {
        let body = serde_json::to_value(request).map_err(coffer::Error::internal)?;
        let out = self.call(region, OFFER_OPERATION, &body)?;
        serde_json::from_slice(&out).map_err(|_| {
            coffer::Error::dependency_timeout(format!("{region} answered unexpectedly."))
        })
    }

    fn install(&self, region: &Region, package: &ReplicaPackage) -> Result<(), coffer::Error> {
        let body = serde_json::to_value(package).map_err(coffer::Error::internal)?;
        self.call(region, INSTALL_OPERATION, &body).map(|_| ())
    }

    fn notify(&self, region: &Region, notice: &MultiRegionNotice) -> Result<(), coffer::Error> {
        let body = serde_json::to_value(notice).map_err(coffer::Error::internal)?;
        self.call(region, NOTICE_OPERATION, &body).map(|_| ())
    }
}

/// The replica region's side: `CofferAdmin.ReplicaOffer` and `CofferAdmin.InstallReplica`,
/// for a caller whose SigV4 signature cofferd verified. `None` for any other operation.
pub(crate) fn dispatch(
    kms: &Kms,
    caller: &Caller,
    op: &str,
    body: &[u8],
) -> Option<Result<Vec<u8>, ApiError>> {
    let bad = |_| {
        ApiError::from(coffer::Error::serialization(
            "The request is not a replication message.",
        ))
    };
    Some(match op {
        OFFER_OPERATION => serde_json::from_slice::<ReplicaOfferRequest>(body)
            .map_err(bad)
            .and_then(|req| kms.replica_offer(caller, req).map_err(ApiError::from))
            .and_then(|offer| {
                serde_json::to_vec(&offer).map_err(|e| ApiError::from(coffer::Error::internal(e)))
            }),
        INSTALL_OPERATION => serde_json::from_slice::<ReplicaPackage>(body)
            .map_err(bad)
            .and_then(|p| kms.install_replica(caller, p).map_err(ApiError::from))
            .map(|()| b"{}".to_vec()),
        NOTICE_OPERATION => serde_json::from_slice::<MultiRegionNotice>(body)
            .map_err(bad)
            .and_then(|n| kms.receive_notice(caller, n).map_err(ApiError::from))
            .map(|()| b"{}".to_vec()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn peer_flags() {
        let p =
            parse_peer_flag("eu-west-1=https://b.example:4000,credentials=/s/b.json,ca=/s/ca.pem")
                .unwrap();
        assert_eq!(p.region, "eu-west-1");
        assert_eq!(p.endpoint, "https://b.example:4000");
        assert_eq!(p.credentials_file, PathBuf::from("/s/b.json"));
        assert_eq!(p.ca_file, Some(PathBuf::from("/s/ca.pem")));
        for bad in [
            "eu-west-1",
            "eu-west-1=http://127.0.0.1:1",
            "eu-west-1=http://127.0.0.1:1,secret=abc",
            "eu-west-1=http://127.0.0.1:1,credentials=",
        ] {
            assert!(parse_peer_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn peers_from_a_configuration_file_and_what_install_refuses() {
        let dir = std::env::temp_dir().join(format!("cofferd-peers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let creds = dir.join("peer.json");
        std::fs::write(
            &creds,
            r#"{"access_key_id":"AKIAPEER","secret_access_key":"s","region":"eu-west-1"}"#,
        )
        .unwrap();
        std::fs::set_permissions(&creds, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let text = format!(
            "data_dir = \"/tmp/x\"\n[[peers]]\nregion = \"eu-west-1\"\nendpoint = \"http://127.0.0.1:4001\"\ncredentials_file = {:?}\n",
            creds.display().to_string()
        );
        let config = crate::parse_config(&text, Path::new("c.toml"), Path::new("/")).unwrap();
        assert_eq!(config.peers.len(), 1);
        assert_eq!(config.peers[0].region, "eu-west-1");
        let kms = Kms::builder().region("us-east-1").build().unwrap();
        install(&kms, "us-east-1", &config.peers).unwrap();
        // Refused: plain http off loopback, the server's own region, a region twice, no file.
        let mut off = config.peers[0].clone();
        off.endpoint = "http://10.1.2.3:4001".into();
        let mut own = config.peers[0].clone();
        own.region = "us-east-1".into();
        let mut missing = config.peers[0].clone();
        missing.credentials_file = dir.join("absent.json");
        for bad in [
            vec![off],
            vec![own],
            vec![config.peers[0].clone(), config.peers[0].clone()],
            vec![missing],
        ] {
            let e = install(&kms, "us-east-1", &bad).unwrap_err();
            assert!(!e.to_string().contains("\"s\""), "{e}");
        }
        // An unknown member is refused, as everywhere in the file.
        let bad = text.replace("credentials_file", "secret");
        assert!(crate::parse_config(&bad, Path::new("c.toml"), Path::new("/")).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "http://127.0.0.1:4000",
            "http://[::1]:4000",
            "http://localhost:4000",
            "https://b.example:4000",
        ] {
            assert!(!plain_off_loopback(ok), "{ok}");
        }
        for bad in [
            "http://10.0.0.2:4000",
            "http://b.example:4000",
            "http://[fe80::1]:1",
        ] {
            assert!(plain_off_loopback(bad), "{bad}");
        }
    }
}
