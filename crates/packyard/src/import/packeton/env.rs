//! Where a Packeton installation keeps its files, found as Packeton finds them: its own
//! variables, from the import command's environment (which wins, as it does for
//! Symfony) or from the `.env` file given with `--packeton-env`, with Packeton's
//! defaults. `%kernel.project_dir%` is the directory of that `.env` file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Why the environment could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {why}")]
    Syntax {
        path: PathBuf,
        line: usize,
        why: &'static str,
    },
}

/// Variables by name, as a `.env` file sets them.
type EnvValues = HashMap<String, String>;

/// Packeton's variables.
#[derive(Debug, Clone, Default)]
pub struct PacketonEnv {
    values: EnvValues,
    project_dir: Option<PathBuf>,
}

/// Where archives are.
#[derive(Debug, Clone, PartialEq)]
pub enum ArchiveSource {
    /// Dists under `dist`, uploaded artifacts under `artifacts`.
    Local { dist: PathBuf, artifacts: PathBuf },
    /// `STORAGE_SOURCE=s3`: the bucket and prefixes of Packeton's `STORAGE_AWS_*`.
    S3(Box<storage::config::StorageSettings>),
    /// No archive can be read, and why.
    Unread(Unread),
}

/// Why no archive can be read from Packeton's storage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unread {
    #[error(
        "Packeton's archives are in its {0:?} storage, defined in its own YAML configuration, which the import does not read: copy them to a directory and set PACKAGIST_DIST_PATH and APP_COMPOSER_HOME"
    )]
    Named(String),
    #[error("{0}")]
    UnknownPaths(&'static str),
    #[error("Packeton's S3 settings: {0}")]
    Settings(String),
}

impl PacketonEnv {
    /// The variables of `file` (if any) under those of the process environment.
    pub fn load(file: Option<&Path>) -> Result<PacketonEnv, EnvError> {
        let mut env = PacketonEnv::default();
        if let Some(file) = file {
            let text = std::fs::read_to_string(file).map_err(|source| EnvError::Read {
                path: file.to_owned(),
                source,
            })?;
            env.values = parse(&text, file)?;
            env.project_dir = file
                .parent()
                .map(|dir| {
                    if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    }
                })
                .map(Path::to_owned);
        }
        for (key, value) in std::env::vars() {
            if is_packeton_variable(&key) {
                env.values.insert(key, value);
            }
        }
        Ok(env)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `value` with `%kernel.project_dir%` written out; `None` when it holds it and
    /// the project's directory is unknown.
    fn path(&self, value: &str) -> Option<PathBuf> {
        if !value.contains("%kernel.project_dir%") {
            return Some(PathBuf::from(value));
        }
        let dir = self.project_dir.as_ref()?;
        Some(PathBuf::from(
            value.replace("%kernel.project_dir%", &dir.display().to_string()),
        ))
    }

    /// Where the archives are: `PACKAGIST_DIST_PATH` (default `var/zipball`) and
    /// `APP_COMPOSER_HOME/artifact_storage` (default `var/.composer`), unless
    /// `STORAGE_SOURCE` names another store.
    pub fn archives(&self) -> ArchiveSource {
        match self.get("STORAGE_SOURCE") {
            None | Some("local") => {}
            Some("s3") => return self.bucket(),
            Some(other) => return ArchiveSource::Unread(Unread::Named(other.to_owned())),
        }
        let dist = self
            .get("PACKAGIST_DIST_PATH")
            .unwrap_or("%kernel.project_dir%/var/zipball");
        let home = self
            .get("APP_COMPOSER_HOME")
            .unwrap_or("%kernel.project_dir%/var/.composer");
        match (self.path(dist), self.path(home)) {
            (Some(dist), Some(home)) => ArchiveSource::Local {
                dist,
                artifacts: home.join("artifact_storage"),
            },
            _ => ArchiveSource::Unread(Unread::UnknownPaths(
                "PACKAGIST_DIST_PATH or APP_COMPOSER_HOME is Packeton's default under its project directory: give Packeton's .env with --packeton-env, or set them",
            )),
        }
    }

    /// Packeton's bucket, read with packyard's own S3 settings code, which takes the
    /// same variables and defaults (bucket `packeton-bucket`, prefixes `packeton` and
    /// `artifact`, `STORAGE_AWS_ARGS`, and the `AWS_*` credentials of the environment).
    /// No local cache: the bucket is read once.
    fn bucket(&self) -> ArchiveSource {
        let lookup = |key: &str| {
            self.get(key)
                .map(str::to_owned)
                .or_else(|| {
                    key.starts_with("AWS_")
                        .then(|| std::env::var(key).ok())
                        .flatten()
                })
                .filter(|value| !value.is_empty())
        };
        let unused = Path::new("/nonexistent");
        match storage::config::from_env(&lookup, unused, &std::collections::BTreeMap::default()) {
            Ok(mut settings) => {
                settings.artifact_cache = None;
                settings.mirror_meta_cache = None;
                settings.mirror_dist_cache = None;
                ArchiveSource::S3(Box::new(settings))
            }
            Err(error) => ArchiveSource::Unread(Unread::Settings(error.to_string())),
        }
    }
}

fn is_packeton_variable(key: &str) -> bool {
    ["PACKAGIST_", "APP_", "STORAGE_"]
        .iter()
        .any(|prefix| key.starts_with(prefix))
}

/// `KEY=VALUE` lines as Symfony's Dotenv reads them, as far as paths need: comments,
/// `export`, single quotes (literal), double quotes (with `\\"`, `\\\\`, `\\n`), unquoted
/// values up to a ` #` comment, and `${VAR}` (earlier keys of the file) in
/// unquoted and double-quoted values.
fn parse(text: &str, path: &Path) -> Result<EnvValues, EnvError> {
    let mut values: EnvValues = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let syntax = |why| EnvError::Syntax {
            path: path.to_owned(),
            line: index + 1,
            why,
        };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, raw)) = line.split_once('=') else {
            return Err(syntax("expected KEY=VALUE"));
        };
        if key.is_empty() || key.ends_with(' ') || raw.starts_with(' ') {
            return Err(syntax("no spaces around '=' (Symfony refuses them)"));
        }
        let value = if let Some(rest) = raw.strip_prefix('\'') {
            let end = rest
                .find('\'')
                .ok_or_else(|| syntax("unterminated single quote"))?;
            rest[..end].to_owned()
        } else if let Some(rest) = raw.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = rest.chars();
            loop {
                match chars.next() {
                    None => return Err(syntax("unterminated double quote")),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some('n') => value.push('\n'),
                        Some(other) => value.push(other),
                        None => return Err(syntax("unterminated double quote")),
                    },
                    Some(other) => value.push(other),
                }
            }
            expand(&value, &values)
        } else {
            let unquoted = raw.split(" #").next().unwrap_or(raw).trim_end();
            expand(unquoted, &values)
        };
        values.insert(key.to_owned(), value);
    }
    Ok(values)
}

/// `${VAR}` and `${VAR:-default}` from the file's own earlier keys only: values end up
/// in the report, and the process environment may hold secrets that must not.
fn expand(value: &str, known: &EnvValues) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let (name, default) = inner.split_once(":-").unwrap_or((inner, ""));
        let found = known.get(name).cloned().filter(|v| !v.is_empty());
        out.push_str(&found.unwrap_or_else(|| default.to_owned()));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packeton_env_file_is_read_as_symfony_reads_it() {
        let text = "# Packeton\nAPP_ENV=prod\nexport APP_SECRET='s3cr3t $not'\n\
                    DATABASE_URL=\"sqlite:///%kernel.project_dir%/var/app.db\"\n\
                    DATA=/data # a comment\nPACKAGIST_DIST_PATH=${DATA}/zipball\n\
                    APP_COMPOSER_HOME=${MISSING:-/fallback}/composer\n";
        let values = parse(text, Path::new(".env")).unwrap();
        assert_eq!(values["APP_SECRET"], "s3cr3t $not");
        assert_eq!(
            values["DATABASE_URL"],
            "sqlite:///%kernel.project_dir%/var/app.db"
        );
        assert_eq!(values["PACKAGIST_DIST_PATH"], "/data/zipball");
        assert_eq!(values["APP_COMPOSER_HOME"], "/fallback/composer");
        for bad in ["KEY = value", "NOVALUE", "K='open", "K=\"open"] {
            assert!(parse(bad, Path::new(".env")).is_err(), "{bad}");
        }
    }

    #[test]
    fn archives_are_where_packeton_puts_them() {
        let mut env = PacketonEnv {
            project_dir: Some(PathBuf::from("/srv/packeton")),
            ..PacketonEnv::default()
        };
        assert_eq!(
            env.archives(),
            ArchiveSource::Local {
                dist: PathBuf::from("/srv/packeton/var/zipball"),
                artifacts: PathBuf::from("/srv/packeton/var/.composer/artifact_storage"),
            }
        );
        env.values.insert("STORAGE_SOURCE".into(), "s3".into());
        env.values.insert(
            "STORAGE_AWS_ARGS".into(),
            r#"{"endpoint":"http://127.0.0.1:9","accessKeyId":"k","accessKeySecret":"s","region":"eu-west-1"}"#.into(),
        );
        let ArchiveSource::S3(settings) = env.archives() else {
            panic!("{:?}", env.archives());
        };
        assert_eq!(settings.dist.prefix, "packeton");
        assert_eq!(settings.artifact.prefix, "artifact");
        assert!(
            settings
                .dist
                .backend
                .describe()
                .starts_with("s3://packeton-bucket")
        );
        assert_eq!(settings.artifact_cache, None);
        env.values
            .insert("STORAGE_AWS_ARGS".into(), "{not json".into());
        assert!(matches!(
            env.archives(),
            ArchiveSource::Unread(Unread::Settings(_))
        ));
        env.values.insert("STORAGE_SOURCE".into(), "gcloud".into());
        assert!(matches!(
            env.archives(),
            ArchiveSource::Unread(Unread::Named(_))
        ));
        let unknown = PacketonEnv::default();
        assert!(matches!(
            unknown.archives(),
            ArchiveSource::Unread(Unread::UnknownPaths(_))
        ));
    }
}
