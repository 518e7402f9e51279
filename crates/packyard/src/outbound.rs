//! The outbound network policy: which addresses packyard may connect to when it
//! fetches a URL someone else chose: outgoing webhooks, git repositories (checked
//! before git runs; for http(s) git is then pinned to the checked addresses) and
//! mirror upstreams with the dist URLs their metadata names.
//!
//! By default loopback, link-local (where most cloud metadata endpoints live), the
//! other known metadata and platform services ([`METADATA_SERVICES`]), unspecified and
//! multicast addresses are refused, and everything else — private ranges included,
//! where internal git servers and receivers live — is allowed. An IPv6 address that
//! reaches an IPv4 host (IPv4-mapped, IPv4-compatible, NAT64, 6to4) is judged by the
//! IPv4 address it carries as well, so `[64:ff9b::a9fe:a9fe]` is not a way around
//! 169.254.0.0/16. Operators
//! widen or tighten that with CIDR lists, `PACKYARD_ALLOW_NETWORKS` and
//! `PACKYARD_DENY_NETWORKS`; the most specific network that contains an address
//! decides, an operator's list before a default of the same size, a deny before an
//! allow.
//!
//! The check runs on the addresses a name resolves to, and the connection is made to
//! exactly those addresses (the resolver below is the client's): a name that resolves
//! to an allowed address for the check and a refused one for the connection cannot
//! slip through. Literal IP hosts never reach a resolver, so [`NetworkPolicy::check_url`]
//! checks them before the request.
//!
//! Proxies are opt-in. The usual `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` variables
//! are ignored by every outgoing client (webhooks, mirrors, git), since a proxy resolves
//! names itself and the policy would no longer see where a connection goes; only
//! `PACKYARD_OUTBOUND_PROXY` sends http(s) requests through a proxy. With it, literal
//! addresses are still judged, but what a name resolves to is the proxy's to decide.
//! The proxy itself is the operator's choice, not a URL someone else chose: it may be
//! on loopback or in any refused range (`http://localhost:3128`), for git (curl's
//! `http.proxy`) and the HTTP clients alike.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::TryStreamExt;

/// An IP network, `10.0.0.0/8` or `fd00::/8`; a bare address is a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Option<Network> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.trim().parse().ok()?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        // Addresses are judged in their IPv4 form (`::ffff:a.b.c.d` is a.b.c.d), so an
        // IPv4-mapped network is taken as the IPv4 network it maps, or it would never
        // contain anything.
        if let IpAddr::V6(v6) = address
            && let Some(v4) = v6.to_ipv4_mapped()
            && prefix >= 96
        {
            return Some(Network {
                address: IpAddr::V4(v4),
                prefix: prefix - 96,
            });
        }
        Some(Network { address, prefix })
    }

    const fn v4(octets: [u8; 4], prefix: u8) -> Network {
        Network {
            address: IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3])),
            prefix,
        }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Network {
        let [s0, s1, s2, s3, s4, s5, s6, s7] = segments;
        Network {
            address: IpAddr::V6(Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7)),
            prefix,
        }
    }

    /// Whether this is every address of its family (`0.0.0.0/0`, `::/0`).
    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.address, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// Refused unless an operator allows them.
const REFUSED_BY_DEFAULT: [Network; 8] = [
    Network::v4([127, 0, 0, 0], 8),
    Network::v4([169, 254, 0, 0], 16),
    Network::v4([0, 0, 0, 0], 8),
    Network::v4([224, 0, 0, 0], 4),
    Network::v4([255, 255, 255, 255], 32),
    Network::v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
    Network::v6([0, 0, 0, 0, 0, 0, 0, 0], 128),
    Network::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
];
/// IPv6 multicast, kept apart to keep the table above readable.
const IPV6_MULTICAST: Network = Network::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8);

/// Cloud metadata and platform services outside link-local, refused unless an operator
/// allows them: what answers there hands out instance credentials or configures the
/// host, and no webhook receiver, git server or Composer repository lives there.
/// (AWS, GCP, Azure, Oracle, OpenStack, DigitalOcean, Hetzner and Tencent serve
/// theirs on 169.254.0.0/16, refused above.)
pub const METADATA_SERVICES: [Network; 4] = [
    // AWS's instance metadata service over IPv6 (Nitro instances).
    Network::v6([0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254], 128),
    // GCP's metadata server over IPv6.
    Network::v6([0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254], 128),
    // Alibaba Cloud's metadata service.
    Network::v4([100, 100, 100, 200], 32),
    // Azure's WireServer (VM agent, extensions, health probes).
    Network::v4([168, 63, 129, 16], 32),
];

/// The IPv4 hosts an IPv6 address reaches through a translation it names: NAT64's
/// well-known prefix (RFC 6052) and its local-use range (RFC 8215, whose prefix length
/// the operator chooses, so every position RFC 6052 allows is read), 6to4 (RFC 3056),
/// SIIT's IPv4-translated form and the deprecated IPv4-compatible one. (Teredo,
/// 2001::/32, carries a public relay's and a client's addresses, not a host behind us.) IPv4-mapped addresses are the IPv4 host
/// itself and are judged as such in [`NetworkPolicy::check`].
pub(crate) fn embedded_ipv4(address: Ipv6Addr) -> Vec<Ipv4Addr> {
    let o = address.octets();
    let s = address.segments();
    let v4 = |a: u8, b: u8, c: u8, d: u8| Ipv4Addr::new(a, b, c, d);
    let last = v4(o[12], o[13], o[14], o[15]);
    match s {
        // 64:ff9b::/96, NAT64's well-known prefix, ::/96, IPv4-compatible
        // (`::a.b.c.d`), and ::ffff:0:0/96, SIIT's IPv4-translated form (RFC 2765):
        // the IPv4 address is the last 32 bits.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0, 0, 0, 0, 0 | 0xffff, 0, _, _] => vec![last],
        // 64:ff9b:1::/48, with a prefix of /48, /56, /64 or /96 (octet 8 is zero).
        [0x64, 0xff9b, 1, ..] => vec![
            v4(o[6], o[7], o[9], o[10]),
            v4(o[7], o[9], o[10], o[11]),
            v4(o[9], o[10], o[11], o[12]),
            last,
        ],
        // 2002::/16: 2002:AABB:CCDD::/48 is the 6to4 site of AA.BB.CC.DD.
        [0x2002, ..] => vec![v4(o[2], o[3], o[4], o[5])],
        _ => Vec::new(),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    allow: Vec<Network>,
    deny: Vec<Network>,
    /// `PACKYARD_OUTBOUND_PROXY`: the http(s) proxy every outgoing http(s) request goes
    /// through, when the operator chose one.
    proxy: Option<String>,
}

/// Why a URL may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "{address} is in {network}, which outgoing connections may not reach (allow it with PACKYARD_ALLOW_NETWORKS)"
    )]
    Address { address: IpAddr, network: Network },
    #[error(
        "{address} reaches {embedded}, which is in {network}, which outgoing connections may not reach (allow it with PACKYARD_ALLOW_NETWORKS)"
    )]
    Translated {
        address: Ipv6Addr,
        embedded: Ipv4Addr,
        network: Network,
    },
    #[error("{0} is not an http or https URL")]
    Scheme(String),
    #[error("{0} is not a URL")]
    Malformed(String),
    #[error("{0} has no address")]
    NoAddress(String),
    #[error("{0}: the outbound network policy cannot tell where this connects")]
    Unjudgeable(String),
    #[error("{host}: {refused}")]
    Host { host: String, refused: Box<Refused> },
}

impl NetworkPolicy {
    /// The policy of `PACKYARD_ALLOW_NETWORKS` and `PACKYARD_DENY_NETWORKS`
    /// (comma-separated CIDRs), as read by `lookup`.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<NetworkPolicy> {
        let list = |name: &str| -> anyhow::Result<Vec<Network>> {
            lookup(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| {
                    Network::parse(item).ok_or_else(|| {
                        anyhow::anyhow!(
                            "{name}: {item:?} is not a network such as 10.0.0.0/8 or fd00::/8"
                        )
                    })
                })
                .collect()
        };
        let proxy = lookup("PACKYARD_OUTBOUND_PROXY")
            .map(|proxy| proxy.trim().to_owned())
            .filter(|proxy| !proxy.is_empty());
        if let Some(proxy) = &proxy {
            let usable = reqwest::Url::parse(proxy)
                .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
            if !usable {
                anyhow::bail!(
                    "PACKYARD_OUTBOUND_PROXY: {:?} is not an http:// or https:// proxy URL",
                    crate::redact::redacted(proxy)
                );
            }
        }
        Ok(NetworkPolicy {
            allow: list("PACKYARD_ALLOW_NETWORKS")?,
            deny: list("PACKYARD_DENY_NETWORKS")?,
            proxy,
        })
    }

    /// The proxy outgoing http(s) requests go through, if the operator set one.
    pub fn proxy(&self) -> Option<&str> {
        self.proxy.as_deref()
    }

    /// An HTTP client builder that connects only where this policy allows (its
    /// resolver), through `PACKYARD_OUTBOUND_PROXY` when set and through no proxy
    /// otherwise: reqwest would take one from `HTTP(S)_PROXY`/`ALL_PROXY`, which would
    /// then resolve names in the policy's place.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder().dns_resolver(Arc::new(PolicyResolver {
            policy: self.clone(),
        }));
        match &self.proxy {
            Some(proxy) => builder.proxy(
                reqwest::Proxy::all(proxy.as_str()).expect("checked in NetworkPolicy::from_env"),
            ),
            None => builder.no_proxy(),
        }
    }

    /// A client from [`Self::client_builder`] and `configure`, built when first used:
    /// building one reads the system's CA certificates, tens of milliseconds that a
    /// command which never sends a request (most CLI commands) should not pay.
    pub fn lazy_client(
        &self,
        configure: impl Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder + Send + Sync + 'static,
    ) -> LazyClient {
        let policy = self.clone();
        LazyClient(Arc::new(LazyInner {
            build: Box::new(move || {
                configure(policy.client_builder())
                    .build()
                    .expect("the HTTP client builds")
            }),
            client: std::sync::OnceLock::new(),
        }))
    }

    /// Whether connections to `address` are allowed. An IPv6 address that reaches an
    /// IPv4 host through a translation is allowed only when that host is too.
    pub fn check(&self, address: IpAddr) -> Result<(), Refused> {
        // An IPv4-mapped IPv6 address reaches the IPv4 host: judge it as that host.
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            IpAddr::V4(_) => address,
        };
        if let IpAddr::V6(v6) = address {
            for embedded in embedded_ipv4(v6) {
                if let Err(Refused::Address { network, .. }) = self.decide(IpAddr::V4(embedded)) {
                    return Err(Refused::Translated {
                        address: v6,
                        embedded,
                        network,
                    });
                }
            }
        }
        self.decide(address)
    }

    /// The decision of the lists about `address` itself.
    fn decide(&self, address: IpAddr) -> Result<(), Refused> {
        // (prefix, rank, allowed): longer prefixes first, then operator lists before
        // defaults, then deny before allow.
        let mut decision: Option<(u8, u8, bool, Network)> = None;
        let mut consider = |network: &Network, rank: u8, allowed: bool| {
            if !network.contains(address) {
                return;
            }
            let better = decision.is_none_or(|(prefix, best_rank, _, _)| {
                network.prefix > prefix || (network.prefix == prefix && rank > best_rank)
            });
            if better {
                decision = Some((network.prefix, rank, allowed, *network));
            }
        };
        for network in REFUSED_BY_DEFAULT
            .iter()
            .chain([&IPV6_MULTICAST])
            .chain(&METADATA_SERVICES)
        {
            consider(network, 0, false);
        }
        for network in &self.allow {
            consider(network, 1, true);
        }
        for network in &self.deny {
            consider(network, 2, false);
        }
        match decision {
            Some((_, _, false, network)) => Err(Refused::Address { address, network }),
            _ => Ok(()),
        }
    }

    /// Checks what can be checked of `url` before any lookup: its scheme, and its host
    /// when that is a literal address.
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, Refused> {
        let parsed = reqwest::Url::parse(url).map_err(|_| Refused::Malformed(url.to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Refused::Scheme(url.to_owned()));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| Refused::Malformed(url.to_owned()))?;
        // IPv6 hosts come in brackets; the URL parser has already normalised IPv4
        // spellings such as `0x7f.1` to dotted quads.
        if let Ok(address) = host.trim_start_matches('[').trim_end_matches(']').parse() {
            self.check(address)?;
        }
        Ok(parsed)
    }

    /// The addresses `host` resolves to that connections may reach, with `port`; an
    /// error naming the policy when none is left. A literal address is judged as is.
    pub async fn allowed_addresses(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, Refused> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let resolved: Vec<SocketAddr> = match literal.parse::<IpAddr>() {
            Ok(address) => vec![SocketAddr::new(address, port)],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| Refused::NoAddress(host.to_owned()))?
                .collect(),
        };
        let mut refusal = None;
        let allowed: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|address| match self.check(address.ip()) {
                Ok(()) => true,
                Err(refused) => {
                    refusal.get_or_insert(refused);
                    false
                }
            })
            .collect();
        if allowed.is_empty() {
            return Err(refusal.map_or_else(
                || Refused::NoAddress(host.to_owned()),
                |refused| Refused::Host {
                    host: host.to_owned(),
                    refused: Box::new(refused),
                },
            ));
        }
        Ok(allowed)
    }

    /// Whether `host` is the host of `PACKYARD_OUTBOUND_PROXY`.
    fn is_proxy_host(&self, host: &str) -> bool {
        self.proxy
            .as_deref()
            .and_then(|proxy| reqwest::Url::parse(proxy).ok())
            .is_some_and(|proxy| {
                proxy.host_str().is_some_and(|proxy_host| {
                    proxy_host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .eq_ignore_ascii_case(host.trim_start_matches('[').trim_end_matches(']'))
                })
            })
    }
}

/// reqwest's resolver in [`NetworkPolicy::client_builder`]: it answers only the
/// allowed addresses of a name, and fails, naming the policy, when none is left. With
/// a proxy every request goes to it, so the only name resolved is the proxy's own,
/// which the operator chose and is answered as is.
struct PolicyResolver {
    policy: NetworkPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = if policy.is_proxy_host(&host) {
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect()
            } else {
                policy.allowed_addresses(&host, 0).await?
            };
            Ok(Box::new(addresses.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Why an answer from another server was not read whole.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("answered more than {0} bytes")]
    TooLarge(usize),
    #[error("{}", describe(.0))]
    Transfer(reqwest::Error),
}

/// The body of `response`, or why not: more than `limit` bytes is refused rather than
/// held (at once when its `Content-Length` says so). Every answer packyard reads from a
/// server someone else runs goes through here: upstreams, identity providers, Packeton.
pub(crate) async fn read_bounded(
    response: reqwest::Response,
    limit: usize,
) -> Result<Bytes, BodyError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.try_next().await.map_err(BodyError::Transfer)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

/// A transfer error with its causes, the URL's password hidden (reqwest names the URL).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    match error.url() {
        Some(url) => crate::redact::hide_password_of(url.as_str(), &text),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &str, deny: &str) -> NetworkPolicy {
        NetworkPolicy::from_env(|name| match name {
            "PACKYARD_ALLOW_NETWORKS" => Some(allow.to_owned()),
            "PACKYARD_DENY_NETWORKS" => Some(deny.to_owned()),
            _ => None,
        })
        .unwrap()
    }

    fn allowed(policy: &NetworkPolicy, address: &str) -> bool {
        policy.check(address.parse().unwrap()).is_ok()
    }

    #[test]
    fn loopback_and_link_local_are_refused_by_default_and_private_ranges_are_not() {
        let default = NetworkPolicy::default();
        for refused in [
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "224.0.0.1",
            "ff02::1",
        ] {
            assert!(!allowed(&default, refused), "{refused}");
        }
        for fine in [
            "10.1.2.3",
            "192.168.0.10",
            "172.16.5.4",
            "8.8.8.8",
            "fd00::1",
            "2001:db8::1",
        ] {
            assert!(allowed(&default, fine), "{fine}");
        }
        let refusal = default
            .check("169.254.169.254".parse().unwrap())
            .unwrap_err();
        assert!(refusal.to_string().contains("169.254.0.0/16"), "{refusal}");
        assert!(refusal.to_string().contains("PACKYARD_ALLOW_NETWORKS"));
    }

    #[test]
    fn metadata_services_are_refused_however_they_are_reached() {
        let default = NetworkPolicy::default();
        for refused in [
            // Known metadata and platform services.
            "fd00:ec2::254",
            "fd20:ce::254",
            "100.100.100.200",
            "168.63.129.16",
            // 169.254.169.254 through NAT64, its local-use range at each prefix
            // length, IPv4-compatible, 6to4 and IPv4-mapped addresses.
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::169.254.169.254",
            "64:ff9b:1:a9fe:a9:fe00::",
            "64:ff9b:1:a9:fe:a9fe::",
            "64:ff9b:1::a9:fea9:fe00:0",
            "64:ff9b:1::a9fe:a9fe",
            "::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "::ffff:a9fe:a9fe",
            "::ffff:0:a9fe:a9fe",
            // Loopback the same ways.
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
            "2002:6464:64c8::1",
        ] {
            assert!(!allowed(&default, refused), "{refused}");
        }
        for fine in [
            "64:ff9b::808:808",
            "2002:808:808::1",
            "100.100.100.201",
            "100.64.0.1",
            "2600:1f18::1",
        ] {
            assert!(allowed(&default, fine), "{fine}");
        }
        let refusal = default
            .check("64:ff9b::a9fe:a9fe".parse().unwrap())
            .unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "64:ff9b::a9fe:a9fe reaches 169.254.169.254, which is in 169.254.0.0/16, which \
             outgoing connections may not reach (allow it with PACKYARD_ALLOW_NETWORKS)"
        );
        // Allowing the IPv4 host allows its translations; denying an IPv6 range still
        // denies the translations in it.
        let tests = policy("127.0.0.0/8", "2002::/16");
        assert!(allowed(&tests, "64:ff9b::7f00:1"));
        assert!(!allowed(&tests, "2002:7f00:1::"));
        let aws = policy("fd00:ec2::254", "");
        assert!(allowed(&aws, "fd00:ec2::254"));
        assert!(default.check_url("http://[::a9fe:a9fe]/latest").is_err());
        assert!(default.check_url("http://100.100.100.200/latest").is_err());
    }

    #[test]
    fn the_most_specific_network_decides() {
        let tests = policy("127.0.0.0/8", "");
        assert!(allowed(&tests, "127.0.0.1"));
        assert!(!allowed(&tests, "169.254.169.254"));
        let tight = policy("10.1.0.0/16", "10.0.0.0/8, 127.0.0.1");
        assert!(!allowed(&tight, "10.2.0.1"));
        assert!(allowed(&tight, "10.1.0.1"));
        // An allow of the same size as a deny loses to it.
        let both = policy("10.0.0.0/8", "10.0.0.0/8");
        assert!(!allowed(&both, "10.0.0.1"));
        // The metadata host stays refused when only loopback is allowed.
        let metadata = policy("127.0.0.0/8", "169.254.169.254/32");
        assert!(!allowed(&metadata, "169.254.169.254"));
    }

    #[test]
    fn networks_are_parsed_strictly() {
        assert_eq!(
            Network::parse("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(Network::parse("::1").unwrap().to_string(), "::1/128");
        assert!(Network::parse("0.0.0.0/0").unwrap().is_everything());
        assert!(Network::parse("::/0").unwrap().is_everything());
        assert!(!Network::parse("10.0.0.0/8").unwrap().is_everything());
        // IPv4-mapped networks are the IPv4 networks they map, as addresses are judged.
        let mapped = Network::parse("::ffff:10.0.0.0/104").unwrap();
        assert_eq!(mapped.to_string(), "10.0.0.0/8");
        assert!(mapped.contains("10.1.2.3".parse().unwrap()));
        assert_eq!(
            Network::parse("::ffff:192.0.2.1").unwrap().to_string(),
            "192.0.2.1/32"
        );
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "localhost",
            "::/129",
            "10.0.0.0/x",
            "",
        ] {
            assert!(Network::parse(bad).is_none(), "{bad}");
        }
        let error = NetworkPolicy::from_env(|name| {
            (name == "PACKYARD_DENY_NETWORKS").then(|| "10.0.0.0/8,nonsense".to_owned())
        })
        .unwrap_err();
        assert!(
            error.to_string().contains("PACKYARD_DENY_NETWORKS"),
            "{error}"
        );
        assert!(error.to_string().contains("nonsense"), "{error}");
    }

    #[test]
    fn a_proxy_is_only_the_one_the_operator_sets() {
        assert_eq!(NetworkPolicy::default().proxy(), None);
        let with = |value: &str| {
            NetworkPolicy::from_env(|name| {
                (name == "PACKYARD_OUTBOUND_PROXY").then(|| value.to_owned())
            })
        };
        assert_eq!(
            with("http://proxy.internal:3128").unwrap().proxy(),
            Some("http://proxy.internal:3128")
        );
        assert_eq!(with(" ").unwrap().proxy(), None);
        for bad in ["socks5://p:1080", "proxy:3128", "http://u:pw@"] {
            let error = with(bad).unwrap_err().to_string();
            assert!(error.contains("PACKYARD_OUTBOUND_PROXY"), "{error}");
            assert!(!error.contains(":pw"), "{error}");
        }
    }

    #[tokio::test]
    async fn the_proxys_own_host_is_resolved_whatever_the_policy() {
        use reqwest::dns::Resolve;
        let resolve = |policy: &NetworkPolicy, name: &str| {
            let resolver = PolicyResolver {
                policy: policy.clone(),
            };
            resolver.resolve(name.parse().unwrap())
        };
        let proxied = NetworkPolicy::from_env(|name| {
            (name == "PACKYARD_OUTBOUND_PROXY").then(|| "http://LOCALHOST:3128".to_owned())
        })
        .unwrap();
        let addresses: Vec<SocketAddr> = resolve(&proxied, "localhost").await.unwrap().collect();
        assert!(
            addresses.iter().all(|a| a.ip().is_loopback()) && !addresses.is_empty(),
            "{addresses:?}"
        );
        // Any other name is judged as ever, and without a proxy localhost is too.
        assert!(resolve(&proxied, "localhost.").await.is_err());
        assert!(
            resolve(&NetworkPolicy::default(), "localhost")
                .await
                .is_err()
        );
    }

    #[test]
    fn literal_hosts_are_checked_before_any_lookup() {
        let default = NetworkPolicy::default();
        assert!(default.check_url("http://127.0.0.1:8080/hook").is_err());
        assert!(default.check_url("http://[::1]/hook").is_err());
        assert!(default.check_url("http://[::ffff:7f00:1]/hook").is_err());
        assert!(default.check_url("ftp://example.com/").is_err());
        assert!(default.check_url("file:///etc/passwd").is_err());
        assert!(default.check_url("https://hooks.example.com/x").is_ok());
        assert!(default.check_url("http://10.0.0.5/x").is_ok());
    }
}

/// An HTTP client built on first use (see [`NetworkPolicy::lazy_client`]); clones share
/// it.
#[derive(Clone)]
pub struct LazyClient(Arc<LazyInner>);

struct LazyInner {
    build: Box<dyn Fn() -> reqwest::Client + Send + Sync>,
    client: std::sync::OnceLock<reqwest::Client>,
}

impl LazyClient {
    pub fn get(&self) -> &reqwest::Client {
        self.0.client.get_or_init(|| (self.0.build)())
    }
}

impl std::fmt::Debug for LazyClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LazyClient")
    }
}
