//! Replays every committed corpus (`fuzz/corpus/<target>/`, seeds, inputs the fuzzer
//! found and the crashes it found, once fixed) through its target, as an ordinary test:
//! an invariant broken by a change shows up in `cargo test` without running the fuzzer.

use std::path::PathBuf;

#[test]
fn every_corpus_replays_without_breaking_an_invariant() {
    let corpora = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (name, target) in fuzzing::TARGETS {
        let dir = corpora.join(name);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("the corpus of {name} ({}): {e}", dir.display()));
        let mut replayed = 0;
        for entry in entries {
            let path = entry.expect("a corpus entry").path();
            let input = std::fs::read(&path).expect("a corpus file reads");
            let outcome = std::panic::catch_unwind(|| target(&input));
            assert!(
                outcome.is_ok(),
                "{name}: {} breaks an invariant",
                path.display()
            );
            replayed += 1;
        }
        assert!(replayed > 0, "the corpus of {name} is empty");
        println!("{name}: {replayed} inputs replayed");
    }
}

#[test]
fn every_fuzz_target_calls_its_function() {
    let targets = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
    for (name, _) in fuzzing::TARGETS {
        let path = targets.join(format!("{name}.rs"));
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the fuzz target {name} ({}): {e}", path.display()));
        assert!(
            source.contains(&format!("fuzzing::{name}(")),
            "{} does not call fuzzing::{name}",
            path.display()
        );
    }
}
