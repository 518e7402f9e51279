//! Reads a `/metrics` answer with Prometheus' own text-format parser (the official
//! Python client's `text_string_to_metric_families`), so a test checks what a real
//! Prometheus would make of it: families with their types, and every sample.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::required_tool;

/// Parses each family and prints `{"name", "type", "samples": [{"name", "labels",
/// "value"}]}` per line; any parse error ends it with a non-zero exit.
const PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    print(json.dumps({
        "name": family.name,
        "type": family.type,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
    }))
"#;

/// One metric family as Prometheus reads it.
#[derive(Debug, Clone)]
pub struct Family {
    /// The family name (a counter's without `_total`, as the parser reports it).
    pub name: String,
    /// `counter`, `gauge`, `histogram`, ... or `unknown` for untyped samples.
    pub kind: String,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: serde_json::Map<String, Value>,
    pub value: f64,
}

/// Parses `text` (a Prometheus text exposition); panics with the parser's error when
/// it is not valid.
pub fn parse(text: &str) -> Vec<Family> {
    let python = required_tool(
        "PACKYARD_TEST_PROMETHEUS_PYTHON",
        "the prometheus-client parser",
    );
    let mut child = Command::new(python)
        .arg("-c")
        .arg(PARSER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the Prometheus parser");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(text.as_bytes())
        .expect("writing to the parser");
    let output = child
        .wait_with_output()
        .expect("running the Prometheus parser");
    assert!(
        output.status.success(),
        "Prometheus could not parse the exposition: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let family: Value = serde_json::from_str(line).expect("the parser prints JSON");
            Family {
                name: family["name"].as_str().unwrap_or_default().to_owned(),
                kind: family["type"].as_str().unwrap_or_default().to_owned(),
                samples: family["samples"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|sample| Sample {
                        name: sample["name"].as_str().unwrap_or_default().to_owned(),
                        labels: sample["labels"].as_object().cloned().unwrap_or_default(),
                        value: sample["value"].as_f64().unwrap_or(f64::NAN),
                    })
                    .collect(),
            }
        })
        .collect()
}
