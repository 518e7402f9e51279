//! The deployment example under `deploy/`: the Kubernetes manifests and the Dockerfile,
//! checked against each other, against the README's tables of variables and against
//! packyard's own settings parser. No cluster runs here and no image is built: this
//! test is the check (README, "Running on Kubernetes").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use packyard::config::Settings;
use serde_yaml_ng::Value;
use storage::StoreName;
use storage::config::{BackendSpec, S3Credentials};

/// The highest peak RSS the benchmarks measured, in MiB: `bench/cold_archives.sh`, 500
/// concurrent cold mirror downloads (README, Limits and "Running on Kubernetes", which
/// also lists the other figures). The memory request must cover it.
const MEASURED_PEAK_RSS_MIB: u64 = 78;

/// What EKS's pod identity webhook reads from a ServiceAccount, and where it puts the
/// projected token (it sets `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE`).
const IRSA_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
const EKS_TOKEN_FILE: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";

/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_TERMINATION_GRACE_SECONDS: u64 = 30;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// One YAML document of a file under deploy/kubernetes.
struct Manifest {
    file: String,
    doc: Value,
}

/// Everything under deploy/: the manifests, the Dockerfile's stages.
struct Deploy {
    files: BTreeSet<String>,
    manifests: Vec<Manifest>,
    dockerfile: Vec<Stage>,
}

impl Deploy {
    fn load() -> Deploy {
        let dir = repo_root().join("deploy/kubernetes");
        let mut files = BTreeSet::new();
        let mut manifests = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let is_yaml = Path::new(&file)
                .extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml");
            if !is_yaml {
                continue;
            }
            let text = read(&path);
            for document in serde_yaml_ng::Deserializer::from_str(&text) {
                let doc = <Value as serde::Deserialize>::deserialize(document)
                    .unwrap_or_else(|e| panic!("deploy/kubernetes/{file} is not valid YAML: {e}"));
                if !doc.is_null() {
                    manifests.push(Manifest {
                        file: file.clone(),
                        doc,
                    });
                }
            }
            files.insert(file);
        }
        let dockerfile = parse_dockerfile(&read(&repo_root().join("deploy/Dockerfile")));
        Deploy {
            files,
            manifests,
            dockerfile,
        }
    }

    /// The one manifest of `kind` (examples included only when `examples`).
    fn one(&self, kind: &str, examples: bool) -> &Manifest {
        let found: Vec<&Manifest> = self
            .manifests
            .iter()
            .filter(|m| m.doc["kind"].as_str() == Some(kind))
            .filter(|m| examples || !is_example(&m.file))
            .collect();
        match found.as_slice() {
            [one] => one,
            _ => panic!(
                "deploy/kubernetes should hold exactly one {kind}, found {}",
                found.len()
            ),
        }
    }

    fn deployment(&self) -> &Value {
        &self.one("Deployment", false).doc
    }

    fn pod_spec(&self) -> &Value {
        &self.deployment()["spec"]["template"]["spec"]
    }

    fn pod_labels(&self) -> BTreeMap<String, String> {
        string_map(&self.deployment()["spec"]["template"]["metadata"]["labels"])
    }

    /// The container that runs packyard.
    fn container(&self) -> &Value {
        let containers = sequence(&self.pod_spec()["containers"]);
        let found: Vec<&Value> = containers
            .iter()
            .filter(|c| c["name"].as_str() == Some("packyard"))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "the Deployment should have one container named packyard"
        );
        found[0]
    }

    /// Every container and init container of the Deployment.
    fn all_containers(&self) -> Vec<&Value> {
        let spec = self.pod_spec();
        let mut all: Vec<&Value> = sequence(&spec["containers"]).iter().collect();
        all.extend(sequence(&spec["initContainers"]));
        all
    }

    fn runtime_stage(&self) -> &Stage {
        self.dockerfile
            .last()
            .expect("deploy/Dockerfile has no FROM")
    }

    /// The container's port number called `port` (a name or a number).
    fn container_port(&self, port: &Value) -> u64 {
        if let Some(number) = port.as_u64() {
            return number;
        }
        let name = port
            .as_str()
            .unwrap_or_else(|| panic!("port {port:?} is neither a name nor a number"));
        sequence(&self.container()["ports"])
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("the packyard container has no port named {name:?}"))
    }

    /// The environment the packyard process starts with: the image's `ENV`, then the
    /// container's `env` (Kubernetes' values win), secrets taken from
    /// secret.example.yaml's placeholders, and what EKS's webhook adds for IRSA.
    fn process_environment(&self) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = self.runtime_stage().env().into_iter().collect();
        let secret = &self.one("Secret", true).doc;
        for (name, source) in container_env(self.container()) {
            let value = match source {
                EnvSource::Value(value) => value,
                EnvSource::Secret {
                    name: secret_name,
                    key,
                } => {
                    assert_eq!(
                        secret["metadata"]["name"].as_str(),
                        Some(secret_name.as_str()),
                        "{name} comes from Secret {secret_name:?}, which secret.example.yaml should show"
                    );
                    secret["stringData"][key.as_str()]
                        .as_str()
                        .unwrap_or_else(|| {
                            panic!("{name} comes from key {key:?}, which secret.example.yaml lacks")
                        })
                        .to_owned()
                }
            };
            env.insert(name, value);
        }
        let role_arn = self.role_arn();
        env.insert("AWS_ROLE_ARN".into(), role_arn);
        env.insert("AWS_WEB_IDENTITY_TOKEN_FILE".into(), EKS_TOKEN_FILE.into());
        env
    }

    /// The settings packyard reads from `process_environment`, with its own parser.
    fn settings(&self) -> Settings {
        let env = self.process_environment();
        Settings::from_lookup(|name| env.get(name).filter(|v| !v.is_empty()).cloned())
            .unwrap_or_else(|e| {
                panic!("packyard refuses the environment of deploy/kubernetes: {e:#}")
            })
    }

    fn role_arn(&self) -> String {
        self.one("ServiceAccount", false).doc["metadata"]["annotations"][IRSA_ANNOTATION]
            .as_str()
            .unwrap_or_else(|| panic!("the ServiceAccount has no {IRSA_ANNOTATION} annotation"))
            .to_owned()
    }

    /// The mount of `path`'s nearest mounted parent: (mount path, volume).
    fn mount_of(&self, path: &Path) -> Option<(PathBuf, &Value)> {
        let volumes = sequence(&self.pod_spec()["volumes"]);
        sequence(&self.container()["volumeMounts"])
            .iter()
            .filter_map(|mount| {
                let at = PathBuf::from(mount["mountPath"].as_str()?);
                path.starts_with(&at)
                    .then_some((at, mount["name"].as_str()?))
            })
            .max_by_key(|(at, _)| at.components().count())
            .map(|(at, name)| {
                let volume = volumes
                    .iter()
                    .find(|v| v["name"].as_str() == Some(name))
                    .unwrap_or_else(|| panic!("volumeMount {name:?} names no volume"));
                (at, volume)
            })
    }
}

fn is_example(file: &str) -> bool {
    file.ends_with(".example.yaml")
}

fn sequence(value: &Value) -> &[Value] {
    value.as_sequence().map_or(&[], Vec::as_slice)
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let text = |v: &Value| {
                        v.as_str()
                            .unwrap_or_else(|| panic!("label {v:?} is not a string"))
                            .to_owned()
                    };
                    (text(k), text(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn is_subset(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

enum EnvSource {
    Value(String),
    Secret { name: String, key: String },
}

/// A container's `env`, in order; anything but a plain string value or a secretKeyRef
/// (and any `envFrom`, whose names nobody can check) fails.
fn container_env(container: &Value) -> Vec<(String, EnvSource)> {
    let container_name = container["name"].as_str().unwrap_or("?");
    assert!(
        container["envFrom"].is_null(),
        "container {container_name}: envFrom hides the names of the variables it sets; list them in env"
    );
    sequence(&container["env"])
        .iter()
        .map(|var| {
            let name = var["name"]
                .as_str()
                .unwrap_or_else(|| panic!("container {container_name}: env entry without a name"))
                .to_owned();
            let source = if let Some(value) = var.get("value") {
                EnvSource::Value(
                    value
                        .as_str()
                        .unwrap_or_else(|| {
                            panic!("{name}: value {value:?} must be a string (quote it); Kubernetes refuses numbers and booleans")
                        })
                        .to_owned(),
                )
            } else if let Some(secret) = var.get("valueFrom").and_then(|v| v.get("secretKeyRef")) {
                EnvSource::Secret {
                    name: secret["name"].as_str().unwrap_or_default().to_owned(),
                    key: secret["key"].as_str().unwrap_or_default().to_owned(),
                }
            } else {
                panic!("{name}: neither a value nor a secretKeyRef");
            };
            (name, source)
        })
        .collect()
}

/// One stage of the Dockerfile: its `FROM` image and its instructions, continuation
/// lines joined and comments dropped.
struct Stage {
    from: String,
    instructions: Vec<(String, String)>,
}

impl Stage {
    fn all(&self, keyword: &str) -> impl Iterator<Item = &str> {
        self.instructions
            .iter()
            .filter(move |(k, _)| k == keyword)
            .map(|(_, arguments)| arguments.as_str())
    }

    fn last(&self, keyword: &str) -> Option<&str> {
        self.all(keyword).last()
    }

    /// `ENV A=B C=D` and `ENV A B`, unquoted.
    fn env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for arguments in self.all("ENV") {
            let words: Vec<&str> = arguments.split_whitespace().collect();
            if words.iter().all(|w| w.contains('=')) {
                for word in words {
                    let (name, value) = word.split_once('=').unwrap();
                    assert!(
                        !value.starts_with('"') && !value.starts_with('\''),
                        "Dockerfile ENV {name}: quoted values are not read by this test"
                    );
                    env.push((name.to_owned(), value.to_owned()));
                }
            } else if let [name, value] = words.as_slice() {
                env.push(((*name).to_owned(), (*value).to_owned()));
            } else {
                panic!("Dockerfile ENV {arguments:?}: use NAME=value");
            }
        }
        env
    }

    /// The packages `apt-get install` installs in this stage.
    fn apt_packages(&self) -> BTreeSet<String> {
        let mut packages = BTreeSet::new();
        for run in self.all("RUN") {
            for command in run.split("&&") {
                let words: Vec<&str> = command.split_whitespace().collect();
                if let Some(at) = words
                    .windows(2)
                    .position(|pair| pair[0] == "apt-get" && pair[1] == "install")
                {
                    packages.extend(
                        words[at + 2..]
                            .iter()
                            .filter(|w| !w.starts_with('-'))
                            .map(|w| (*w).to_owned()),
                    );
                }
            }
        }
        packages
    }

    /// `ENTRYPOINT` or `CMD` in exec form.
    fn exec_form(&self, keyword: &str) -> Vec<String> {
        self.last(keyword).map_or_else(Vec::new, |arguments| {
            serde_json::from_str(arguments).unwrap_or_else(|_| {
                panic!("Dockerfile {keyword} {arguments}: use the exec form, [\"...\"], so that SIGTERM reaches the process")
            })
        })
    }
}

fn parse_dockerfile(text: &str) -> Vec<Stage> {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(start) = trimmed.strip_suffix('\\') {
            current.push_str(start);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            logical.push(std::mem::take(&mut current));
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for instruction in logical.iter().filter(|l| !l.trim().is_empty()) {
        let (keyword, arguments) = instruction
            .split_once(char::is_whitespace)
            .unwrap_or((instruction, ""));
        let keyword = keyword.to_ascii_uppercase();
        let arguments = arguments.trim().to_owned();
        if keyword == "FROM" {
            let image = arguments.split_whitespace().next().unwrap_or("").to_owned();
            stages.push(Stage {
                from: image,
                instructions: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .expect("deploy/Dockerfile: an instruction before FROM")
                .instructions
                .push((keyword, arguments));
        }
    }
    stages
}

/// The variables the README documents: the backticked names in the first cell of a
/// table row (`| `NAME` | ...` or `| `A`, `B` | ...`), outside "Running on Kubernetes",
/// whose table explains the manifest's values and so documents nothing by itself.
fn documented_variables() -> BTreeSet<String> {
    let readme = read(&repo_root().join("README.md"));
    let mut names = BTreeSet::new();
    let mut in_kubernetes_section = false;
    for line in readme.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            in_kubernetes_section = heading.trim() == "Running on Kubernetes";
        }
        let Some(row) = line.trim_start().strip_prefix('|') else {
            continue;
        };
        if in_kubernetes_section {
            continue;
        }
        let first_cell = row.split('|').next().unwrap_or("");
        for quoted in first_cell.split('`').skip(1).step_by(2) {
            let is_variable = quoted.starts_with(|c: char| c.is_ascii_uppercase())
                && quoted
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_variable {
                names.insert(quoted.to_owned());
            }
        }
    }
    names
}

/// `5`, `5s`, `2m`, `1h` in seconds (a preStop sleep).
fn seconds(name: &str, value: &str) -> u64 {
    let digits_end = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(digits_end);
    let number: u64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("{name}: {value:?} is not a duration such as 25s"));
    match unit {
        "" | "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        _ => panic!("{name}: {value:?} is not a duration such as 25s"),
    }
}

/// A Kubernetes memory quantity (`128Mi`, `1G`, `134217728`) in bytes.
fn bytes(quantity: &Value) -> u64 {
    let text = match quantity {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => panic!("{other:?} is not a quantity"),
    };
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    let number: u64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a whole quantity"));
    let multiplier: u64 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        _ => panic!("{text:?}: unknown quantity suffix"),
    };
    number * multiplier
}

/// A CPU quantity (`2`, `1500m`) in millicores.
fn millicores(quantity: &Value) -> u64 {
    match quantity {
        Value::Number(n) => n.as_u64().expect("whole cores") * 1000,
        Value::String(s) => match s.strip_suffix('m') {
            Some(millis) => millis.parse().expect("millicores"),
            None => s.parse::<u64>().expect("whole cores") * 1000,
        },
        other => panic!("{other:?} is not a CPU quantity"),
    }
}

#[test]
fn every_variable_the_manifests_and_the_image_set_is_documented_in_the_readme() {
    let deploy = Deploy::load();
    let documented = documented_variables();
    let mut undocumented = Vec::new();
    for container in deploy.all_containers() {
        for (name, _) in container_env(container) {
            if !documented.contains(&name) {
                undocumented.push(format!(
                    "{name} (container {})",
                    container["name"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    for (name, _) in deploy.runtime_stage().env() {
        if !documented.contains(&name) {
            undocumented.push(format!("{name} (deploy/Dockerfile ENV)"));
        }
    }
    assert!(
        undocumented.is_empty(),
        "variables set by deploy/ but not documented in any README table (a row starting with | `NAME`): {}",
        undocumented.join(", ")
    );
}

#[test]
fn no_variable_is_set_twice_in_a_container() {
    let deploy = Deploy::load();
    for container in deploy.all_containers() {
        let mut seen = BTreeSet::new();
        for (name, _) in container_env(container) {
            assert!(
                seen.insert(name.clone()),
                "container {}: {name} is set twice (Kubernetes keeps the last one silently)",
                container["name"].as_str().unwrap_or("?")
            );
        }
    }
}

#[test]
fn api_versions_are_the_stable_ones() {
    let deploy = Deploy::load();
    let expected: BTreeMap<&str, &str> = [
        ("Deployment", "apps/v1"),
        ("PodDisruptionBudget", "policy/v1"),
        ("Service", "v1"),
        ("ServiceAccount", "v1"),
        ("ConfigMap", "v1"),
        ("Secret", "v1"),
        ("Kustomization", "kustomize.config.k8s.io/v1beta1"),
    ]
    .into();
    for manifest in &deploy.manifests {
        let kind = manifest.doc["kind"].as_str().unwrap_or_else(|| {
            panic!(
                "deploy/kubernetes/{}: a document without kind",
                manifest.file
            )
        });
        let want = expected.get(kind).unwrap_or_else(|| {
            panic!(
                "deploy/kubernetes/{}: kind {kind} is not one this test knows; add its apiVersion here",
                manifest.file
            )
        });
        assert_eq!(
            manifest.doc["apiVersion"].as_str(),
            Some(*want),
            "deploy/kubernetes/{}: {kind}'s apiVersion",
            manifest.file
        );
    }
}

#[test]
fn three_replicas_spread_over_nodes_roll_one_at_a_time() {
    let deploy = Deploy::load();
    let spec = &deploy.deployment()["spec"];
    assert_eq!(spec["replicas"].as_u64(), Some(3), "replicas");
    let selector = string_map(&spec["selector"]["matchLabels"]);
    assert!(
        is_subset(&selector, &deploy.pod_labels()),
        "the Deployment's selector {selector:?} must match its pod labels"
    );
    assert_eq!(
        spec["strategy"]["rollingUpdate"]["maxUnavailable"].as_u64(),
        Some(0),
        "a rolling update should never take a ready replica away before its successor is ready"
    );
    let pod = deploy.pod_spec();
    let spread_by_host = sequence(&pod["topologySpreadConstraints"]).iter().any(|c| {
        c["topologyKey"].as_str() == Some("kubernetes.io/hostname")
            && is_subset(
                &string_map(&c["labelSelector"]["matchLabels"]),
                &deploy.pod_labels(),
            )
    });
    let anti_affinity = !pod["affinity"]["podAntiAffinity"].is_null();
    assert!(
        spread_by_host || anti_affinity,
        "replicas should be spread over nodes (topologySpreadConstraints on kubernetes.io/hostname or podAntiAffinity)"
    );
}

#[test]
fn probes_ask_healthz_and_readyz_on_the_port_packyard_listens_on() {
    let deploy = Deploy::load();
    let container = deploy.container();
    let env = deploy.process_environment();
    let listen = env
        .get("PACKYARD_LISTEN")
        .expect("PACKYARD_LISTEN must be set: packyard listens on 127.0.0.1 otherwise");
    let (host, port) = listen
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("PACKYARD_LISTEN {listen:?} has no port"));
    assert_eq!(
        host, "0.0.0.0",
        "PACKYARD_LISTEN: a pod must listen on every address, not {host}"
    );
    let port: u64 = port.parse().expect("PACKYARD_LISTEN's port");
    let ports: Vec<u64> = sequence(&container["ports"])
        .iter()
        .filter_map(|p| p["containerPort"].as_u64())
        .collect();
    assert_eq!(
        ports,
        [port],
        "containerPort must be PACKYARD_LISTEN's port"
    );
    let exposed = deploy.runtime_stage().last("EXPOSE").unwrap_or("");
    assert_eq!(
        exposed,
        port.to_string(),
        "the Dockerfile should EXPOSE PACKYARD_LISTEN's port"
    );
    for (probe, path, required) in [
        ("livenessProbe", "/healthz", true),
        ("readinessProbe", "/readyz", true),
        ("startupProbe", "/healthz", false),
    ] {
        let get = &container[probe]["httpGet"];
        if get.is_null() && !required {
            continue;
        }
        assert_eq!(get["path"].as_str(), Some(path), "{probe}'s path");
        assert_eq!(
            deploy.container_port(&get["port"]),
            port,
            "{probe} must ask PACKYARD_LISTEN's port"
        );
    }
    // /readyz asks every dependency at once with a 1 s timeout each.
    let readiness_timeout = container["readinessProbe"]["timeoutSeconds"]
        .as_u64()
        .unwrap_or(1);
    assert!(
        readiness_timeout >= 2,
        "readinessProbe.timeoutSeconds {readiness_timeout}: /readyz may take its 1 s per check and then answer"
    );
}

#[test]
fn the_root_file_system_is_read_only_and_everything_written_goes_to_a_tmp_empty_dir() {
    let deploy = Deploy::load();
    let container = deploy.container();
    let pod = deploy.pod_spec();
    let security = &container["securityContext"];
    assert_eq!(
        security["readOnlyRootFilesystem"].as_bool(),
        Some(true),
        "readOnlyRootFilesystem"
    );
    assert_eq!(
        security["allowPrivilegeEscalation"].as_bool(),
        Some(false),
        "allowPrivilegeEscalation"
    );
    assert!(
        sequence(&security["capabilities"]["drop"])
            .iter()
            .any(|c| c.as_str() == Some("ALL")),
        "capabilities.drop should be [ALL]"
    );
    let non_root = security["runAsNonRoot"]
        .as_bool()
        .or_else(|| pod["securityContext"]["runAsNonRoot"].as_bool());
    assert_eq!(non_root, Some(true), "runAsNonRoot");

    let (at, volume) = deploy
        .mount_of(Path::new("/tmp"))
        .filter(|(at, _)| at == Path::new("/tmp"))
        .expect("/tmp must be a mounted volume: the root file system is read-only");
    assert!(
        !volume["emptyDir"].is_null(),
        "{} should be an emptyDir, not {volume:?}",
        at.display()
    );
    let env = deploy.process_environment();
    for name in ["PACKYARD_VCS_CACHE_DIR", "PACKYARD_TMP_DIR"] {
        let dir = env.get(name).unwrap_or_else(|| {
            panic!("{name} must be set: its default is under the read-only data dir")
        });
        let (mount, _) = deploy
            .mount_of(Path::new(dir))
            .unwrap_or_else(|| panic!("{name}={dir} is on the read-only root file system"));
        assert_eq!(
            mount,
            Path::new("/tmp"),
            "{name}={dir} should lie under /tmp"
        );
    }
    for name in ["MIRROR_METADATA_CACHE_DIR", "MIRROR_DIST_CACHE_DIR"] {
        assert!(
            !env.contains_key(name),
            "{name} is set: stateless replicas keep no mirror cache"
        );
    }
    assert_eq!(
        env.get("PACKYARD_ARTIFACT_CACHE_MAX").map(String::as_str),
        Some("0"),
        "PACKYARD_ARTIFACT_CACHE_MAX should be 0: no local artifact cache"
    );
}

#[test]
fn the_termination_grace_period_outlasts_pre_stop_and_the_shutdown_grace() {
    let deploy = Deploy::load();
    // As packyard reads it (default 30 s), in whole seconds rounded up.
    let grace = deploy.settings().shutdown_grace.as_secs_f64().ceil() as u64;
    let pre_stop = &deploy.container()["lifecycle"]["preStop"];
    let pre_stop_seconds = if let Some(seconds) = pre_stop["sleep"]["seconds"].as_u64() {
        seconds
    } else if pre_stop["exec"].is_null() {
        assert!(
            pre_stop.is_null(),
            "preStop: only `sleep` or `exec: [sleep, N]` are understood here"
        );
        0
    } else {
        match sequence(&pre_stop["exec"]["command"])
            .iter()
            .map(|w| w.as_str().expect("preStop command words are strings"))
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["sleep" | "/bin/sleep", n] => seconds("preStop sleep", n),
            other => panic!("preStop exec {other:?}: only [sleep, N] is understood here"),
        }
    };
    let termination = deploy.pod_spec()["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap_or(DEFAULT_TERMINATION_GRACE_SECONDS);
    // After the grace: handing jobs back and the last writes, then the runtime's exit.
    let after_grace = packyard::server::EXIT_AFTER_GRACE.as_secs_f64().ceil() as u64;
    assert!(
        termination > pre_stop_seconds + grace + after_grace,
        "terminationGracePeriodSeconds {termination} must exceed preStop's {pre_stop_seconds} s plus PACKYARD_SHUTDOWN_GRACE {grace} s plus the {after_grace} s packyard may take to exit after it, or the kubelet kills packyard while it drains"
    );
}

#[test]
fn the_service_account_carries_the_irsa_role_and_runs_the_pods() {
    let deploy = Deploy::load();
    let account = &deploy.one("ServiceAccount", false).doc;
    let role_arn = deploy.role_arn();
    let (prefix, role) = role_arn.split_once(":role/").unwrap_or(("", ""));
    let account_id = prefix.strip_prefix("arn:aws:iam::").unwrap_or("");
    assert!(
        account_id.len() == 12
            && account_id.chars().all(|c| c.is_ascii_digit())
            && !role.is_empty(),
        "{IRSA_ANNOTATION} {role_arn:?} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)"
    );
    assert_eq!(
        deploy.pod_spec()["serviceAccountName"].as_str(),
        account["metadata"]["name"].as_str(),
        "the pods must run as the annotated ServiceAccount, or EKS gives them no role"
    );
    for (name, _) in container_env(deploy.container()) {
        assert!(
            !name.starts_with("AWS_"),
            "{name} is set by hand: with IRSA, EKS sets the AWS_* variables"
        );
    }
}

#[test]
fn the_disruption_budget_and_the_service_select_the_pods() {
    let deploy = Deploy::load();
    let labels = deploy.pod_labels();
    let budget = &deploy.one("PodDisruptionBudget", false).doc["spec"];
    let selector = string_map(&budget["selector"]["matchLabels"]);
    assert!(
        is_subset(&selector, &labels),
        "the PodDisruptionBudget's selector {selector:?} must match the pod labels {labels:?}"
    );
    let replicas = deploy.deployment()["spec"]["replicas"]
        .as_u64()
        .unwrap_or(1);
    if let Some(min) = budget["minAvailable"].as_u64() {
        assert!(
            min < replicas,
            "minAvailable {min} with {replicas} replicas blocks every drain"
        );
    } else {
        assert!(
            budget["maxUnavailable"].as_u64().is_some_and(|n| n >= 1),
            "the PodDisruptionBudget needs minAvailable or maxUnavailable ≥ 1"
        );
    }

    let service = &deploy.one("Service", false).doc["spec"];
    let selector = string_map(&service["selector"]);
    assert!(
        is_subset(&selector, &labels),
        "the Service's selector {selector:?} must match the pod labels {labels:?}"
    );
    let container_ports: Vec<u64> = sequence(&deploy.container()["ports"])
        .iter()
        .filter_map(|p| p["containerPort"].as_u64())
        .collect();
    for port in sequence(&service["ports"]) {
        let target = if port["targetPort"].is_null() {
            &port["port"]
        } else {
            &port["targetPort"]
        };
        let target = deploy.container_port(target);
        assert!(
            container_ports.contains(&target),
            "the Service targets port {target}, which the container does not open"
        );
    }
}

#[test]
fn resources_cover_the_measured_rss_with_whole_cores() {
    let deploy = Deploy::load();
    let resources = &deploy.container()["resources"];
    let request = bytes(&resources["requests"]["memory"]);
    let limit = bytes(&resources["limits"]["memory"]);
    assert!(
        request >= MEASURED_PEAK_RSS_MIB << 20,
        "memory request {} MiB is below the measured peak RSS of {MEASURED_PEAK_RSS_MIB} MiB",
        request >> 20
    );
    assert!(limit >= request, "memory limit below the request");
    let cpu = millicores(&resources["limits"]["cpu"]);
    assert!(
        cpu >= 1000 && cpu.is_multiple_of(1000),
        "limits.cpu {cpu}m: packyard runs one HTTP thread per whole core of its quota, so give whole cores"
    );
    assert!(
        millicores(&resources["requests"]["cpu"]) <= cpu,
        "requests.cpu above limits.cpu"
    );
}

#[test]
fn the_kustomization_lists_every_manifest_but_the_examples() {
    let deploy = Deploy::load();
    let kustomization = &deploy.one("Kustomization", false).doc;
    let listed: BTreeSet<String> = sequence(&kustomization["resources"])
        .iter()
        .map(|r| r.as_str().expect("resources are file names").to_owned())
        .collect();
    let expected: BTreeSet<String> = deploy
        .files
        .iter()
        .filter(|f| *f != "kustomization.yaml" && !is_example(f))
        .cloned()
        .collect();
    assert_eq!(
        listed, expected,
        "kustomization.yaml's resources should be every manifest except *.example.yaml (placeholders that applying would write over the real objects)"
    );
    let image = deploy.container()["image"].as_str().expect("image");
    assert!(
        sequence(&kustomization["images"])
            .iter()
            .any(|i| i["name"].as_str() == Some(image) && i["newName"].as_str().is_some()),
        "kustomization.yaml's images should name the container's image {image:?} and say where it is pushed"
    );
}

#[test]
fn the_image_has_git_ssh_certificates_and_the_pods_user_and_runs_serve() {
    let deploy = Deploy::load();
    let stages = &deploy.dockerfile;
    assert!(
        stages.len() >= 2,
        "deploy/Dockerfile should be multi-stage: the toolchain stays out of the runtime image"
    );
    let builder = &stages[0];
    let runtime = deploy.runtime_stage();

    let workspace = read(&repo_root().join("Cargo.toml"));
    let rust_version = workspace
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"'))
        .expect("Cargo.toml's rust-version");
    assert!(
        builder.from.starts_with(&format!("rust:{rust_version}-")),
        "the builder {:?} should be the workspace's rust-version {rust_version}",
        builder.from
    );
    assert!(
        builder
            .all("RUN")
            .any(|r| r.contains("cargo build --release --locked -p packyard")),
        "the builder should run cargo build --release --locked -p packyard"
    );
    // A binary linked against one glibc runs on the same Debian release.
    let release = |image: &str| {
        ["bookworm", "trixie", "bullseye"]
            .into_iter()
            .find(|r| image.contains(r))
    };
    assert!(
        release(&builder.from).is_some() && release(&builder.from) == release(&runtime.from),
        "builder {:?} and runtime {:?} should be the same Debian release",
        builder.from,
        runtime.from
    );

    let packages = runtime.apt_packages();
    for needed in ["git", "openssh-client", "ca-certificates"] {
        assert!(
            packages.contains(needed),
            "the runtime stage should install {needed} (installs {packages:?})"
        );
    }

    let user = runtime
        .last("USER")
        .expect("the runtime stage needs a USER: it would run as root");
    let uid: u64 = user.split(':').next().unwrap().parse().unwrap_or_else(|_| {
        panic!("USER {user}: use a numeric id, so that runAsNonRoot can check it")
    });
    assert_ne!(uid, 0, "USER 0 is root");
    let pod = deploy.pod_spec();
    let run_as = deploy.container()["securityContext"]["runAsUser"]
        .as_u64()
        .or_else(|| pod["securityContext"]["runAsUser"].as_u64());
    assert_eq!(
        run_as,
        Some(uid),
        "runAsUser should be the image's USER {uid}, the user that exists in its /etc/passwd (ssh refuses a uid without one)"
    );

    let env: BTreeMap<String, String> = runtime.env().into_iter().collect();
    let data_dir = env
        .get("PACKYARD_DATA_DIR")
        .expect("the image should set PACKYARD_DATA_DIR (the default ./data is relative)");
    assert!(
        runtime
            .all("RUN")
            .any(|r| r.split_whitespace().any(|w| w == data_dir)),
        "the runtime stage should create the data dir {data_dir}"
    );

    // Kubernetes: command replaces ENTRYPOINT (and drops CMD); args replace CMD.
    let container = deploy.container();
    let words = |v: &Value| -> Option<Vec<String>> {
        v.as_sequence().map(|s| {
            s.iter()
                .map(|w| w.as_str().expect("command words are strings").to_owned())
                .collect()
        })
    };
    let mut command =
        words(&container["command"]).unwrap_or_else(|| runtime.exec_form("ENTRYPOINT"));
    let args = match (words(&container["command"]), words(&container["args"])) {
        (_, Some(args)) => args,
        (None, None) => runtime.exec_form("CMD"),
        (Some(_), None) => Vec::new(),
    };
    command.extend(args);
    let binary = command
        .iter()
        .position(|w| w == "packyard" || w.ends_with("/packyard"))
        .unwrap_or_else(|| panic!("the container runs {command:?}, not packyard"));
    assert_eq!(
        &command[binary + 1..],
        ["serve"],
        "the container should run `packyard serve` (it runs {command:?})"
    );

    let ignored = read(&repo_root().join(".dockerignore"));
    for heavy in ["target", ".git"] {
        assert!(
            ignored
                .lines()
                .any(|l| l.trim().trim_end_matches('/') == heavy),
            ".dockerignore should leave {heavy}/ out of the build context"
        );
    }
}

#[test]
fn packyard_accepts_the_environment_of_the_manifests() {
    let deploy = Deploy::load();
    let env = deploy.process_environment();
    let settings = deploy.settings();

    let ports: Vec<u64> = sequence(&deploy.container()["ports"])
        .iter()
        .filter_map(|p| p["containerPort"].as_u64())
        .collect();
    assert_eq!(
        ports,
        [u64::from(settings.listen.port())],
        "the container's port and PACKYARD_LISTEN's, as packyard reads it"
    );
    assert!(
        settings.listen.ip().is_unspecified(),
        "PACKYARD_LISTEN {}: a pod listens on every address",
        settings.listen
    );
    assert!(
        settings.database_url.starts_with("postgres://")
            || settings.database_url.starts_with("postgresql://"),
        "DATABASE_URL should be PostgreSQL: SQLite would be a file in the read-only data dir, not shared by the replicas"
    );
    assert!(
        settings
            .public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://")),
        "PACKYARD_PUBLIC_URL should be the external https URL"
    );
    assert!(
        settings.secret.is_some(),
        "PACKYARD_SECRET: without it no repository credentials can be stored"
    );

    let storage = &settings.storage;
    assert_eq!(storage.source, "s3", "STORAGE_SOURCE");
    let role_arn = deploy.role_arn();
    for name in StoreName::ALL {
        let spec = storage.store(name);
        let BackendSpec::S3(s3) = &spec.backend else {
            panic!(
                "the {} store is not on S3: {:?}",
                name.as_str(),
                spec.backend
            );
        };
        assert_eq!(
            Some(s3.bucket.as_str()),
            env.get("STORAGE_AWS_BUCKET").map(String::as_str),
            "the {} store's bucket",
            name.as_str()
        );
        match &s3.credentials {
            S3Credentials::WebIdentity {
                role_arn: used,
                token_file,
                ..
            } => {
                assert_eq!(
                    used,
                    &role_arn,
                    "the role the {} store assumes",
                    name.as_str()
                );
                assert_eq!(token_file, Path::new(EKS_TOKEN_FILE));
            }
            other => panic!(
                "the {} store's credentials are {other:?}, not IRSA's web identity: keys in STORAGE_AWS_ARGS or the environment come first",
                name.as_str()
            ),
        }
    }
    assert!(
        storage.artifact_cache.is_none()
            && storage.mirror_meta_cache.is_none()
            && storage.mirror_dist_cache.is_none(),
        "no local storage cache on a read-only replica: {storage:?}"
    );

    for (name, dir) in [
        ("PACKYARD_VCS_CACHE_DIR", &settings.vcs_cache_dir),
        ("PACKYARD_TMP_DIR", &settings.tmp_dir),
    ] {
        let mount = deploy.mount_of(dir).map(|(at, _)| at);
        assert_eq!(
            mount.as_deref(),
            Some(Path::new("/tmp")),
            "{name} is {} as packyard reads it: it should lie under /tmp",
            dir.display()
        );
    }
    let known_hosts = &settings.ssh_known_hosts;
    if let Some((_, volume)) = deploy.mount_of(known_hosts) {
        if let Some(map_name) = volume["configMap"]["name"].as_str() {
            let map = &deploy.one("ConfigMap", false).doc;
            assert_eq!(map["metadata"]["name"].as_str(), Some(map_name));
            let file = known_hosts.file_name().unwrap().to_string_lossy();
            assert!(
                map["data"][file.as_ref()].is_string(),
                "PACKYARD_SSH_KNOWN_HOSTS={} names key {file}, which ConfigMap {map_name} lacks",
                known_hosts.display()
            );
        }
    } else {
        panic!(
            "PACKYARD_SSH_KNOWN_HOSTS={} is on the read-only root file system",
            known_hosts.display()
        );
    }

    assert!(
        deploy.mount_of(&settings.data_dir).is_none(),
        "the data dir {} should be the image's (empty, read-only), not a volume",
        settings.data_dir.display()
    );
}
