//! Object key layouts, as Packeton writes them, so that a Packeton bucket can be served
//! as it is.

/// Key of an uploaded archive: flat `{sha1}.{ext}`. Packeton names it after a random
/// sha1; we use the archive's own sha1, which makes re-uploading the same bytes idempotent.
pub fn artifact(sha1_hex: &str, extension: &str) -> String {
    format!("{sha1_hex}.{extension}")
}

/// Key of a zip built from a VCS package: `{name}/{version}-{reference}.zip`
/// (Packeton's DistConfig), with characters outside `[a-z0-9-_/]` in the name and `/`
/// in the version replaced by `-`.
pub fn dist(package: &str, version: &str, reference: &str) -> String {
    let name: String = package
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' | '/' => c,
            _ => '-',
        })
        .collect();
    let file = format!("{version}-{reference}").replace('/', "-");
    format!("{name}/{file}.zip")
}

/// Key of a mirrored archive (Packeton's ZipballDownloadManager): a two-level prefix
/// from the package name's sha1 spreads keys, then
/// `{alias}/{package}/{version}-{sha1(package + version + reference)}.{type}`.
pub fn mirror_dist(
    alias: &str,
    package: &str,
    version: &str,
    reference: &str,
    kind: &str,
) -> String {
    let safe_version: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let identity = sha1_hex(format!("{package}{version}{reference}").as_bytes());
    format!(
        "{}/{safe_version}-{identity}.{kind}",
        mirror_dist_folder(alias, package)
    )
}

/// The folder holding every mirrored archive of `package` in mirror `alias`, as
/// [`mirror_dist`] lays them out.
pub fn mirror_dist_folder(alias: &str, package: &str) -> String {
    let name_hash = sha1_hex(package.as_bytes());
    format!("{}/{}/{alias}/{package}", &name_hash[..2], &name_hash[2..4])
}

fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_keys_are_flat() {
        assert_eq!(artifact("ab12", "zip"), "ab12.zip");
    }

    #[test]
    fn mirror_dist_keys_spread_by_name_hash() {
        let key = mirror_dist("packagist", "psr/log", "3.0.0", "abc", "zip");
        // sha1("psr/log") starts with these four hex digits.
        let name_hash = super::sha1_hex(b"psr/log");
        assert!(
            key.starts_with(&format!(
                "{}/{}/packagist/psr/log/3.0.0-",
                &name_hash[..2],
                &name_hash[2..4]
            )),
            "{key}"
        );
        assert!(key.ends_with(".zip"));
        assert!(key.starts_with(&format!("{}/", mirror_dist_folder("packagist", "psr/log"))));
        assert_ne!(
            key,
            mirror_dist("packagist", "psr/log", "3.0.0", "abd", "zip")
        );
        assert!(
            mirror_dist("m", "a/b", "dev-feature/x", "r", "zip").contains("/a/b/dev-feature-x-")
        );
    }

    #[test]
    fn dist_keys_follow_packeton() {
        assert_eq!(
            dist(
                "acme/foo",
                "1.2.0",
                "0123456789abcdef0123456789abcdef01234567"
            ),
            "acme/foo/1.2.0-0123456789abcdef0123456789abcdef01234567.zip"
        );
        assert_eq!(
            dist("acme/foo.bar", "dev-feature/x", "abc"),
            "acme/foo-bar/dev-feature-x-abc.zip"
        );
    }
}
