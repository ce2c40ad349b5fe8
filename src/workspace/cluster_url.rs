//! The `df://HOST[:PORT]` address of a Ballista scheduler, as `[settings]
//! cluster` and `--cluster` give it. Parsing only: attaching a session is
//! the engine's job.

use std::fmt;
use std::str::FromStr;

/// The port a scheduler listens on when `df://HOST` gives none.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// A Ballista scheduler's address: `df://HOST[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUrl {
    /// Host name or IP address.
    pub host: String,
    /// The scheduler's gRPC port.
    pub port: u16,
}

impl ClusterUrl {
    /// The scheduler's gRPC endpoint (`http://HOST:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.authority())
    }

    /// `HOST:PORT`, with an IPv6 host in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for ClusterUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "df://{}", self.authority())
    }
}

impl FromStr for ClusterUrl {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{s:?} is not a cluster address (expected df://HOST:PORT)");
        let rest = s.trim().strip_prefix("df://").ok_or_else(bad)?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let url = url::Url::parse(&format!("http://{rest}")).map_err(|_| bad())?;
        if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
            return Err(bad());
        }
        let host = match url.host().ok_or_else(bad)? {
            url::Host::Domain(d) => d.to_string(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        // `Url` hides the scheme's default port (80 for http): read it back
        // from the text so `df://h:80` keeps 80.
        let port = match url.port() {
            Some(p) => p,
            None if rest.ends_with(":80") => 80,
            None => DEFAULT_SCHEDULER_PORT,
        };
        Ok(ClusterUrl { host, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_and_without_a_port() {
        let u: ClusterUrl = "df://10.0.0.5:50050".parse().unwrap();
        assert_eq!((u.host.as_str(), u.port), ("10.0.0.5", 50050));
        assert_eq!(u.endpoint(), "http://10.0.0.5:50050");
        let u: ClusterUrl = "df://scheduler.lan".parse().unwrap();
        assert_eq!(
            (u.host.as_str(), u.port),
            ("scheduler.lan", DEFAULT_SCHEDULER_PORT)
        );
        assert_eq!(u.to_string(), "df://scheduler.lan:50050");
        let u: ClusterUrl = "df://[::1]:7000/".parse().unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 7000));
        assert_eq!(u.endpoint(), "http://[::1]:7000");
        let u: ClusterUrl = "df://h:80".parse().unwrap();
        assert_eq!(u.port, 80);
    }

    #[test]
    fn other_addresses_are_refused_with_the_expected_form() {
        for bad in [
            "http://h:50050",
            "h:50050",
            "df://",
            "df://h:99999",
            "df://h:1/path",
            "df://u@h:1",
        ] {
            let e = bad.parse::<ClusterUrl>().unwrap_err();
            assert!(e.contains("expected df://HOST:PORT"), "{bad}: {e}");
        }
    }
}
