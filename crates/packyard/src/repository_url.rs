//! Repository URLs as users give them, and the key that identifies a repository however
//! it is spelled (so a GitHub webhook's `clone_url` finds a package added by SSH URL).

/// A URL `git` cannot fetch, or that could be taken for an option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid repository URL {0:?}: use https://, http://, ssh://, git://, file://, user@host:path or an absolute path"
)]
pub struct InvalidRepositoryUrl(pub String);

/// Checks that `url` is something the `git` command can fetch and that cannot be taken
/// for an option.
pub fn validate(url: &str) -> Result<(), InvalidRepositoryUrl> {
    let url = url.trim();
    let looks_like = |scheme: &str| url.starts_with(scheme) && url.len() > scheme.len();
    let allowed = ["https://", "http://", "ssh://", "git://", "file://"]
        .iter()
        .any(|scheme| looks_like(scheme))
        || url.starts_with('/')
        || is_scp_like(url);
    if url.is_empty()
        || url.starts_with('-')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
        || !allowed
    {
        return Err(InvalidRepositoryUrl(url.to_owned()));
    }
    Ok(())
}

/// A repository on the server's own disk.
pub fn is_local(url: &str) -> bool {
    let url = url.trim();
    url.starts_with("file://") || url.starts_with('/')
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
    let without_credentials = match without_scheme.split_once('@') {
        Some((credentials, rest)) if !credentials.contains('/') => rest.to_owned(),
        _ => without_scheme,
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
        ] {
            assert!(validate(bad).is_err(), "{bad:?}");
        }
    }
}
