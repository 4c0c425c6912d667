//! `listen`: where cofferd listens — an IP address and port, or a host name and port resolved
//! when the server binds — and the rule for plain HTTP: loopback addresses only, unless the
//! operator opts in (`allow_plain_http`, for a private container network), with a warning.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// The address cofferd listens on (`listen`, `--listen`): `127.0.0.1:4000`, `[::]:4000`, or a
/// host name and port (`localhost:4000`), resolved when the server binds. Written and read as
/// a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenAddr(Inner);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Inner {
    Ip(SocketAddr),
    Host { name: String, port: u16 },
}

/// A `listen` value that is neither `IP:PORT` nor `HOST:PORT`.
#[derive(Debug, thiserror::Error)]
#[error("not an IP address or host name and port: {text:?} ({reason})")]
pub struct InvalidListenAddr {
    text: String,
    reason: &'static str,
}

impl ListenAddr {
    /// The IP address, if the address is written as one (not a host name).
    pub fn ip(&self) -> Option<IpAddr> {
        match &self.0 {
            Inner::Ip(a) => Some(a.ip()),
            Inner::Host { .. } => None,
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        match &self.0 {
            Inner::Ip(a) => a.port(),
            Inner::Host { port, .. } => *port,
        }
    }

    /// The addresses to bind: the address itself, or those its host name resolves to.
    pub(crate) async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        match &self.0 {
            Inner::Ip(a) => Ok(vec![*a]),
            Inner::Host { name, port } => non_empty(
                tokio::net::lookup_host((name.as_str(), *port))
                    .await?
                    .collect(),
            ),
        }
    }

    /// [`Self::resolve`], blocking (for the checks before the runtime starts).
    pub(crate) fn resolve_blocking(&self) -> std::io::Result<Vec<SocketAddr>> {
        use std::net::ToSocketAddrs as _;
        match &self.0 {
            Inner::Ip(a) => Ok(vec![*a]),
            Inner::Host { name, port } => {
                non_empty((name.as_str(), *port).to_socket_addrs()?.collect())
            }
        }
    }
}

fn non_empty(addrs: Vec<SocketAddr>) -> std::io::Result<Vec<SocketAddr>> {
    if addrs.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "the name resolves to no address",
        ));
    }
    Ok(addrs)
}

impl From<SocketAddr> for ListenAddr {
    fn from(a: SocketAddr) -> Self {
        Self(Inner::Ip(a))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Ip(a) => write!(f, "{a}"),
            Inner::Host { name, port } => write!(f, "{name}:{port}"),
        }
    }
}

impl FromStr for ListenAddr {
    type Err = InvalidListenAddr;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| InvalidListenAddr {
            text: text.to_owned(),
            reason,
        };
        if let Ok(a) = text.parse::<SocketAddr>() {
            return Ok(Self(Inner::Ip(a)));
        }
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| fail("a port is needed: HOST:PORT"))?;
        if host.contains(':') {
            return Err(fail("an IPv6 address goes in brackets: [::1]:4000"));
        }
        if host.starts_with('[') {
            return Err(fail("brackets hold an IPv6 address, like [::1]:4000"));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| fail("the port is a number from 0 to 65535"))?;
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(fail(
                "a host name is 1 to 253 characters of labels of a-z, 0-9, - and _ joined by dots",
            ));
        }
        if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(fail(
                "not an IPv4 address: four numbers 0 to 255, like 10.0.0.1",
            ));
        }
        Ok(Self(Inner::Host {
            name: host.to_owned(),
            port,
        }))
    }
}

impl serde::Serialize for ListenAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ListenAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e| serde::de::Error::custom(format!("listen: {e}")))
    }
}

/// The refusal of plain HTTP off loopback, naming the file key and the flags.
pub(crate) const PLAIN_HTTP_REFUSED: &str =
    "listen (--listen): a non-loopback address needs TLS ([tls] cert and key, or --tls-cert and \
     --tls-key); plain HTTP is served on loopback only, unless allow_plain_http = true \
     (--allow-plain-http) opts in, for a private container network";

/// Plain HTTP on `addrs` (what `listen` resolves to): `Ok(None)` with TLS or on loopback
/// addresses only; `Ok(Some(warning))` off loopback when the operator opted in
/// (`allow_plain_http`); [`PLAIN_HTTP_REFUSED`] otherwise.
pub(crate) fn plain_http(
    listen: &ListenAddr,
    addrs: &[SocketAddr],
    tls: bool,
    allow_plain_http: bool,
) -> Result<Option<String>, &'static str> {
    if tls || addrs.iter().all(|a| a.ip().is_loopback()) {
        return Ok(None);
    }
    if !allow_plain_http {
        return Err(PLAIN_HTTP_REFUSED);
    }
    Ok(Some(format!(
        "PLAIN HTTP OFF LOOPBACK: listening on {listen} without TLS (allow_plain_http, \
         --allow-plain-http): request and response bodies (plaintexts, data keys) cross the \
         network unencrypted; only for a private container network or behind a TLS-terminating \
         proxy"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_host_names_parse_and_print_back() {
        for text in [
            "127.0.0.1:4000",
            "0.0.0.0:4000",
            "[::]:4000",
            "[::1]:0",
            "localhost:4000",
            "coffer.example.com:443",
            "kms_1:4000",
        ] {
            let a: ListenAddr = text.parse().unwrap();
            assert_eq!(a.to_string(), text);
        }
        let a: ListenAddr = "[::]:4000".parse().unwrap();
        assert_eq!(a.ip(), Some("::".parse().unwrap()));
        let h: ListenAddr = "localhost:4000".parse().unwrap();
        assert_eq!((h.ip(), h.port()), (None, 4000));
    }

    #[test]
    fn fail_bad_addresses_say_why() {
        for (text, why) in [
            ("nowhere", "a port is needed"),
            ("localhost", "a port is needed"),
            ("localhost:http", "the port is a number"),
            ("localhost:65536", "the port is a number"),
            ("::1:4000", "in brackets"),
            ("[localhost]:4000", "brackets hold"),
            (":4000", "a host name is"),
            ("-x:4000", "a host name is"),
            ("a..b:4000", "a host name is"),
            ("a b:4000", "a host name is"),
            ("127.1:4000", "not an IPv4 address"),
            ("256.0.0.1:4000", "not an IPv4 address"),
        ] {
            let e = text.parse::<ListenAddr>().unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
            assert!(e.contains(&format!("{text:?}")), "{text}: {e}");
        }
    }

    #[test]
    fn plain_http_off_loopback_needs_the_opt_in_and_warns() {
        let listen: ListenAddr = "0.0.0.0:4000".parse().unwrap();
        let any = ["0.0.0.0:4000".parse().unwrap()];
        let lo = [
            "127.0.0.1:4000".parse().unwrap(),
            "[::1]:4000".parse().unwrap(),
        ];
        let mixed = [lo[0], "10.0.0.2:4000".parse().unwrap()];
        assert_eq!(plain_http(&listen, &lo, false, false), Ok(None));
        assert_eq!(plain_http(&listen, &any, true, false), Ok(None));
        assert_eq!(
            plain_http(&listen, &any, false, false),
            Err(PLAIN_HTTP_REFUSED)
        );
        // One address off loopback is enough to refuse.
        assert_eq!(
            plain_http(&listen, &mixed, false, false),
            Err(PLAIN_HTTP_REFUSED)
        );
        let warning = plain_http(&listen, &any, false, true).unwrap().unwrap();
        assert!(warning.starts_with("PLAIN HTTP OFF LOOPBACK"), "{warning}");
        assert!(warning.contains("0.0.0.0:4000"), "{warning}");
        assert!(PLAIN_HTTP_REFUSED.contains("--allow-plain-http"));
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback_addresses() {
        let h: ListenAddr = "localhost:0".parse().unwrap();
        let addrs = h.resolve().await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
        assert_eq!(h.resolve_blocking().unwrap().len(), addrs.len());
    }
}
