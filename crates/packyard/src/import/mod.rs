//! Taking over another installation's data: `packyard import packeton` (users, groups,
//! grants, credentials, sub-repositories, …). An import reads the other side, compares
//! each object with what packyard holds, and creates or updates only what differs, so
//! that running it again changes nothing; every object ends up in a [`Report`] line,
//! imported or not and why. A dry run builds the same report and writes nothing.

pub mod packeton;
pub mod satis;

use std::fmt;

/// What happened to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    /// To be added to packyard's configuration file by the operator (the report ends
    /// with what to add): an object that lives there, not in the database.
    Proposed,
    /// Not imported, and why.
    Skipped(String),
}

/// One line of a report: an object (kind and name), what happened to it, and notes on
/// parts of it that could not be carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub kind: &'static str,
    pub name: String,
    pub outcome: Outcome,
    pub notes: Vec<String>,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub dry_run: bool,
    pub lines: Vec<Line>,
    /// What to add to `PACKYARD_CONFIG` for the [`Outcome::Proposed`] lines.
    pub config: Option<String>,
}

impl Report {
    pub fn add(
        &mut self,
        kind: &'static str,
        name: impl Into<String>,
        outcome: Outcome,
    ) -> &mut Line {
        self.lines.push(Line {
            kind,
            name: name.into(),
            outcome,
            notes: Vec::new(),
        });
        self.lines.last_mut().expect("just pushed")
    }

    /// How many lines of `kind` had an outcome like `outcome` (skips of any reason
    /// count together).
    pub fn count(&self, kind: &str, outcome: &Outcome) -> usize {
        self.lines
            .iter()
            .filter(|line| {
                line.kind == kind
                    && std::mem::discriminant(&line.outcome) == std::mem::discriminant(outcome)
            })
            .count()
    }

    /// Whether anything was (or would be) created or updated.
    pub fn changed_anything(&self) -> bool {
        self.lines
            .iter()
            .any(|line| matches!(line.outcome, Outcome::Created | Outcome::Updated))
    }
}

impl fmt::Display for Report {
    /// A line per object (`kind<TAB>name<TAB>outcome`, notes indented below), then the
    /// totals per kind.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (created, updated) = if self.dry_run {
            ("would create", "would update")
        } else {
            ("created", "updated")
        };
        for line in &self.lines {
            let outcome = match &line.outcome {
                Outcome::Created => created.to_owned(),
                Outcome::Updated => updated.to_owned(),
                Outcome::Unchanged => "unchanged".to_owned(),
                Outcome::Proposed => "to add to PACKYARD_CONFIG (below)".to_owned(),
                Outcome::Skipped(why) => format!("skipped: {why}"),
            };
            writeln!(f, "{}\t{}\t{outcome}", line.kind, line.name)?;
            for note in &line.notes {
                writeln!(f, "  note: {note}")?;
            }
        }
        let mut kinds: Vec<&str> = self.lines.iter().map(|line| line.kind).collect();
        kinds.dedup();
        kinds.sort_unstable();
        kinds.dedup();
        for kind in kinds {
            writeln!(
                f,
                "{kind} totals: {} {created}, {} {updated}, {} unchanged, {} skipped",
                self.count(kind, &Outcome::Created),
                self.count(kind, &Outcome::Updated),
                self.count(kind, &Outcome::Unchanged),
                self.count(kind, &Outcome::Skipped(String::new())),
            )?;
        }
        if let Some(config) = &self.config {
            writeln!(
                f,
                "add to PACKYARD_CONFIG (this holds the mirrors' credentials), then restart:"
            )?;
            write!(f, "{config}")?;
        }
        if self.dry_run {
            writeln!(f, "dry run: nothing was written")?;
        }
        Ok(())
    }
}
