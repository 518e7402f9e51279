//! Repository URLs as users give them, and the key that identifies a repository however
//! it is spelled (so a GitHub webhook's `clone_url` finds a package added by SSH URL).

/// A URL `git` cannot fetch, that could be taken for an option, or whose host the
/// outbound network policy cannot judge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRepositoryUrl {
    #[error(
        "invalid repository URL {0:?}: use https://, http://, ssh://, git://, file://, user@host:path or an absolute path"
    )]
    Form(String),
    #[error(
        "invalid repository URL {0:?}: an IPv6 zone id (`%...`) names a network interface of this server, which the outbound network policy cannot judge; remove it"
    )]
    ZoneId(String),
    #[error(
        "invalid repository URL {0:?}: its host cannot be checked against the outbound network policy; write it as an ASCII host name (punycode for international names), a dotted IPv4 address or an IPv6 address in brackets"
    )]
    Host(String),
}

/// Checks that `url` is something the `git` command can fetch and that cannot be taken
/// for an option.
pub fn validate(url: &str) -> Result<(), InvalidRepositoryUrl> {
    let url = url.trim();
    let looks_like = |scheme: &str| url.starts_with(scheme) && url.len() > scheme.len();
    // A network URL names a host after `//` and its credentials, and has no `\`: URL
    // parsers skip the extra slash of `https:///user:pw@host/` (or of what is left of
    // `https://user:pw@/host` without its credentials) and read `\` as `/`, so they
    // would find credentials and hosts where `redact`, which takes the credentials out
    // before the URL is stored and published, finds others (found by fuzzing).
    let network = |scheme: &str| {
        let host = host_and_port(url.strip_prefix(scheme).unwrap_or_default());
        url.starts_with(scheme) && !host.is_empty() && !url.contains('\\')
    };
    let allowed = ["https://", "http://", "ssh://", "git://"]
        .iter()
        .any(|scheme| network(scheme))
        || looks_like("file://")
        || url.starts_with('/')
        || is_scp_like(url);
    if url.is_empty()
        || url.starts_with('-')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
        || !allowed
    {
        return Err(InvalidRepositoryUrl::Form(url.to_owned()));
    }
    // git connects only after the network policy has judged where it connects, so a
    // network URL whose endpoint we cannot tell is one git must not be given: git and
    // curl would resolve a host we could not read (`xn--a.example`) by themselves, and
    // reach an interface-scoped address (`[fe80::1%25lo]`) we never saw.
    if !is_local(url) && endpoint(url).is_none() {
        let shown = crate::redact::redacted(url);
        return Err(if url.contains('[') && url.contains('%') {
            InvalidRepositoryUrl::ZoneId(shown)
        } else {
            InvalidRepositoryUrl::Host(shown)
        });
    }
    Ok(())
}

/// A repository on the server's own disk.
pub fn is_local(url: &str) -> bool {
    let url = url.trim();
    url.starts_with("file://") || url.starts_with('/')
}

/// Where git connects for a repository on the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https`, `http`, `ssh` or `git` (`user@host:path` is `ssh`).
    pub scheme: String,
    /// As written, without brackets for IPv6.
    pub host: String,
    pub port: u16,
}

/// The host and port git connects to for `url`; `None` for local repositories and
/// anything that is not a valid network URL, or whose host is not written as the
/// network policy reads it.
pub fn endpoint(url: &str) -> Option<Endpoint> {
    let url = url.trim();
    if is_local(url) {
        return None;
    }
    if url.contains("://") {
        let parsed = reqwest::Url::parse(url).ok()?;
        let scheme = parsed.scheme().to_owned();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            "ssh" => 22,
            "git" => 9418,
            _ => return None,
        };
        let host = parsed.host_str()?;
        if !written_as_parsed(written_host(url)?, host) {
            return None;
        }
        return Some(Endpoint {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: parsed.port().unwrap_or(default_port),
            scheme,
        });
    }
    if !is_scp_like(url) {
        return None;
    }
    let (user_host, _) = url.split_once(':').filter(|_| !url.starts_with('['))?;
    let host = user_host
        .rsplit_once('@')
        .map_or(user_host, |(_, host)| host);
    // `user@[host]:path` spellings are left to ssh:// URLs, which are parsed as above.
    let plain = !host.is_empty() && !host.contains(['[', ']', '%']);
    plain.then(|| Endpoint {
        scheme: "ssh".to_owned(),
        host: host.to_owned(),
        port: 22,
    })
}

/// The host of `scheme://userinfo@host:port/...` as written (IPv6 in brackets).
fn written_host(url: &str) -> Option<&str> {
    let host_port = host_and_port(&url[url.find("://")? + 3..]);
    if host_port.starts_with('[') {
        return host_port.get(..=host_port.find(']')?);
    }
    host_port.split(':').next()
}

/// Whether `written` is the host the URL parser read as `parsed`, so that the host the
/// policy judges (and pins git's curl to) is the one git reads. The parser turns
/// spellings into others — IDNA (`bücher.example`), percent-encoding, an IPv6 zone id
/// it drops or refuses — that git and curl read their own way, or resolve by themselves.
fn written_as_parsed(written: &str, parsed: &str) -> bool {
    if let Some(inside) = parsed.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
        // std's parser takes no zone id (`%lo`, `%25lo`).
        let written = written.strip_prefix('[').and_then(|w| w.strip_suffix(']'));
        return written
            .and_then(|w| w.parse::<std::net::Ipv6Addr>().ok())
            .is_some_and(|w| inside.parse() == Ok(w));
    }
    if let Ok(parsed) = parsed.parse::<std::net::Ipv4Addr>() {
        // `0x7f.1` is 127.0.0.1 to the URL parser and to curl alike; only the address
        // matters.
        return written.parse::<std::net::Ipv4Addr>() == Ok(parsed)
            || !written.contains(|c: char| !c.is_ascii_alphanumeric() && c != '.');
    }
    !written.contains('%') && written.eq_ignore_ascii_case(parsed)
}

/// The `host[:port]` of the authority that starts `after_scheme` (a URL after its
/// `://`): the userinfo ends at the last `@` of the authority, as `redact` (and WHATWG)
/// read it, since a password may hold an `@` of its own.
fn host_and_port(after_scheme: &str) -> &str {
    let end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let authority = &after_scheme[..end];
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

fn is_scp_like(url: &str) -> bool {
    match url.split_once(':') {
        Some((user_host, path)) => {
            !user_host.contains('/')
                && user_host.contains('@')
                && !path.is_empty()
                && !path.starts_with("//")
        }
        None => false,
    }
}

/// `github.com/acme/lib` for `https://github.com/Acme/Lib.git`, `git@github.com:acme/lib`,
/// `ssh://git@github.com/acme/lib/`; local paths keep their path.
pub fn key(url: &str) -> String {
    let url = url.trim();
    let without_scheme = match url.split_once("://") {
        Some((scheme, rest)) if scheme != "file" => rest.to_owned(),
        Some((_, path)) => path.to_owned(),
        None if is_scp_like(url) => url.replacen(':', "/", 1),
        None => url.to_owned(),
    };
    // The userinfo ends at the last `@` of the authority, as `redact` (and WHATWG) read
    // it: a password may hold an `@` of its own.
    let authority_end = without_scheme
        .find(['/', '?', '#'])
        .unwrap_or(without_scheme.len());
    let without_credentials = match without_scheme[..authority_end].rfind('@') {
        Some(at) => &without_scheme[at + 1..],
        None => &without_scheme,
    };
    let trimmed = without_credentials.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix(".git").unwrap_or(trimmed);
    trimmed.trim_end_matches('/').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_repository_share_a_key() {
        for url in [
            "https://github.com/Acme/Lib.git",
            "https://github.com/acme/lib",
            "https://user:token@github.com/acme/lib/",
            "git@github.com:acme/lib.git",
            "ssh://git@github.com/acme/lib",
            "git://github.com/acme/lib.git",
        ] {
            assert_eq!(key(url), "github.com/acme/lib", "{url}");
        }
        // Found by fuzzing (fuzz/corpus/url/regression-key-at-in-password): an `@` in
        // the password gave the URL another key than its public form.
        assert_eq!(
            key("https://bot:p@ss@git.example.com/x.git"),
            key(&crate::redact::public(
                "https://bot:p@ss@git.example.com/x.git"
            ))
        );
        assert_eq!(key("file:///srv/git/lib.git"), "/srv/git/lib");
        assert_eq!(key("/srv/git/lib"), "/srv/git/lib");
        assert_eq!(
            key("https://git.example.com:8443/team/lib.git"),
            "git.example.com:8443/team/lib"
        );
        assert_ne!(
            key("https://github.com/acme/lib"),
            key("https://github.com/acme/lib2")
        );
        assert!(is_local("/srv/git/lib") && is_local("file:///srv/git/lib"));
        assert!(!is_local("https://github.com/acme/lib") && !is_local("git@github.com:acme/lib"));
    }

    #[test]
    fn network_urls_name_where_git_connects() {
        let at = |url: &str| endpoint(url).map(|e| (e.scheme, e.host, e.port));
        let expect = |scheme: &str, host: &str, port| Some((scheme.into(), host.into(), port));
        assert_eq!(
            at("https://github.com/acme/lib"),
            expect("https", "github.com", 443)
        );
        assert_eq!(
            at("http://user:pw@127.0.0.1:8080/x.git"),
            expect("http", "127.0.0.1", 8080)
        );
        assert_eq!(at("ssh://git@[::1]:2222/x"), expect("ssh", "::1", 2222));
        assert_eq!(
            at("git://example.com/x"),
            expect("git", "example.com", 9418)
        );
        assert_eq!(
            at("git@github.com:acme/lib"),
            expect("ssh", "github.com", 22)
        );
        assert_eq!(
            at("http://0x7f.1:8080/x.git"),
            expect("http", "127.0.0.1", 8080)
        );
        assert_eq!(
            at("https://[::FFFF:127.0.0.2]/x.git"),
            expect("https", "::ffff:7f00:2", 443)
        );
        // Hosts the URL parser reads otherwise than git and curl do, or cannot read:
        // there is no endpoint the network policy could judge.
        for unjudgeable in [
            "http://[::ffff:127.0.0.2%25lo]:8080/x.git",
            "http://[fe80::1%25lo]/x.git",
            "http://[fe80::1%lo]/x.git",
            "ssh://git@[fe80::1%25eth0]/x.git",
            "http://xn--a.example/x.git",
            "https://b\u{fc}cher.example/x.git",
            "http://%31%32%37.0.0.1/x.git",
            "http://exa%6dple.com/x.git",
            "git@[fe80::1%lo]:x.git",
        ] {
            assert_eq!(at(unjudgeable), None, "{unjudgeable}");
        }
        assert_eq!(at("/srv/git/lib"), None);
        assert_eq!(at("file:///srv/git/lib"), None);
        assert_eq!(at("ftp://example.com/x"), None);
    }

    #[test]
    fn only_fetchable_urls_are_accepted() {
        for good in [
            "https://github.com/acme/lib.git",
            "ssh://git@host/x",
            "git@github.com:acme/lib.git",
            "file:///tmp/repo",
            "/tmp/repo",
        ] {
            validate(good).unwrap();
        }
        for bad in [
            "",
            "-uhack",
            "--upload-pack=touch /tmp/x",
            "ftp://host/x",
            "relative/path",
            "https://",
            "https://h/a b",
            "host:path",
            // Found by fuzzing (fuzz/corpus/url/regression-empty-authority).
            "https:///uwer:toen@@github.com/acme/lib/",
            "ssh://\\\\user:pw@host/x",
            "https://bot:pw@git.example.com\\x:pw@other.example.com/lib.git",
            "http://[::1]@/hook",
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
        // Network URLs the outbound network policy could not judge (security issue 23).
        let zone = validate("http://bot:pw@[::ffff:127.0.0.2%25lo]:80/x.git").unwrap_err();
        assert!(matches!(zone, InvalidRepositoryUrl::ZoneId(_)), "{zone:?}");
        assert!(zone.to_string().contains("zone id"), "{zone}");
        assert!(!zone.to_string().contains("pw"), "{zone}");
        for host in [
            "http://xn--a.example/x.git",
            "https://b\u{fc}cher.example/x.git",
            "git@[fe80::1]:x.git",
        ] {
            let refused = validate(host).unwrap_err();
            assert!(
                matches!(refused, InvalidRepositoryUrl::Host(_)),
                "{refused:?}"
            );
            assert!(refused.to_string().contains("network policy"), "{refused}");
        }
    }
}
