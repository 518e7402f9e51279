//! Object key layouts, as Packeton writes them, so that a Packeton bucket can be served
//! as it is (shared/reference/packeton.md).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_keys_are_flat() {
        assert_eq!(artifact("ab12", "zip"), "ab12.zip");
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
