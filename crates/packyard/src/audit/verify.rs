//! Walking the chain: the first entry that was edited, removed or reordered.

use serde::Serialize;

use crate::db::audit::{AuditEntry, AuditHead, GENESIS_HASH};

/// What is wrong at an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Break {
    /// Its content no longer gives its hash: a field was changed.
    Edited { seq: i64 },
    /// Its hash is not the one the next entry recorded: it was rewritten with a new
    /// hash, or replaced by another entry.
    Rewritten { seq: i64 },
    /// Entries from `seq` on are missing before `found` (or before the head).
    Removed { seq: i64, found: Option<i64> },
    /// The oldest kept entry does not follow the anchor retention recorded, or the
    /// anchor has no `audit.pruned` entry that set it.
    Anchor { seq: i64 },
    /// The newest entry is not the head the chain records (entries after it were
    /// removed, or the head was changed).
    Head { seq: i64 },
    /// A checkpoint's entry is not in the chain as it was when the checkpoint was
    /// taken: the chain was rewritten up to there or beyond.
    Checkpoint { seq: i64 },
    /// Entries a checkpoint covers were pruned before retention would have pruned
    /// them: pruned early, to hide a rewrite from the checkpoint.
    PrunedEarly { seq: i64 },
}

impl Break {
    /// The entry named.
    pub fn seq(&self) -> i64 {
        match self {
            Break::Edited { seq }
            | Break::Rewritten { seq }
            | Break::Removed { seq, .. }
            | Break::Anchor { seq }
            | Break::Head { seq }
            | Break::Checkpoint { seq }
            | Break::PrunedEarly { seq } => *seq,
        }
    }
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Edited { seq } => write!(
                f,
                "entry {seq} was edited: its content no longer gives its hash"
            ),
            Break::Rewritten { seq } => write!(
                f,
                "entry {seq} was rewritten or replaced: its hash is not the one entry {} recorded",
                seq + 1
            ),
            Break::Removed {
                seq,
                found: Some(found),
            } => write!(
                f,
                "entry {seq} was removed: the chain goes on at entry {found}"
            ),
            Break::Removed { seq, found: None } => {
                write!(f, "entry {seq} was removed: the chain ends before it")
            }
            Break::Anchor { seq } => write!(
                f,
                "entry {seq} does not follow the point retention pruned to, or that point was moved by hand"
            ),
            Break::Head { seq } => write!(
                f,
                "the chain's head says entry {seq} is the newest, and the entries do not end there"
            ),
            Break::Checkpoint { seq } => write!(
                f,
                "entry {seq} is not the entry the checkpoint signed: the chain was rewritten"
            ),
            Break::PrunedEarly { seq } => write!(
                f,
                "entry {seq}, which the checkpoint signed, was pruned before PACKYARD_AUDIT_RETENTION allows: the chain was rewritten"
            ),
        }
    }
}

/// A walk over the chain, fed its entries oldest first, in pages.
#[derive(Debug)]
pub struct Walk {
    expected_seq: i64,
    /// The hash the next entry must carry as `prev_hash`, and the entry that has it.
    expected_prev: String,
    /// The last entry seen, held until the next one vouches for its hash.
    last: Option<AuditEntry>,
    /// A checkpoint's entry and hash, checked as the walk passes it.
    checkpoint: Option<(i64, String)>,
    /// `audit.pruned` entries' (through, anchor, seal), for the anchor check.
    prunes: Vec<(i64, String, String)>,
    anchor: (i64, String),
    broken: Option<Break>,
    pub entries: i64,
}

impl Walk {
    /// A walk from the anchor `head` records; `checkpoint` is an entry number and the
    /// hash a signed checkpoint gave it.
    pub fn new(head: &AuditHead, checkpoint: Option<(i64, String)>) -> Walk {
        let mut walk = Walk {
            expected_seq: head.anchor_seq + 1,
            expected_prev: head.anchor_hash.clone(),
            last: None,
            checkpoint,
            prunes: Vec::new(),
            anchor: (head.anchor_seq, head.anchor_hash.clone()),
            broken: None,
            entries: 0,
        };
        if head.anchor_seq == 0 && head.anchor_hash != GENESIS_HASH {
            walk.broken = Some(Break::Anchor { seq: 1 });
        }
        // A checkpoint of the very point retention pruned to is checked at once.
        if let Some((seq, hash)) = &walk.checkpoint
            && *seq == head.anchor_seq
        {
            if *hash != head.anchor_hash {
                walk.broken = Some(Break::Checkpoint { seq: *seq });
            }
            walk.checkpoint = None;
        }
        walk
    }

    /// Whether the walk already found a break (no need to read on).
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The next entry of the chain.
    pub fn feed(&mut self, entry: AuditEntry) {
        if self.broken.is_some() {
            return;
        }
        if entry.seq != self.expected_seq {
            self.broken = Some(Break::Removed {
                seq: self.expected_seq,
                found: Some(entry.seq),
            });
            return;
        }
        if entry.prev_hash != self.expected_prev {
            self.broken = Some(match &self.last {
                // The previous entry's hash was changed along with its content.
                Some(previous) => Break::Rewritten { seq: previous.seq },
                None => Break::Anchor { seq: entry.seq },
            });
            return;
        }
        if entry.computed_hash() != entry.hash {
            self.broken = Some(Break::Edited { seq: entry.seq });
            return;
        }
        if let Some((seq, hash)) = &self.checkpoint
            && *seq == entry.seq
        {
            if *hash != entry.hash {
                self.broken = Some(Break::Checkpoint { seq: *seq });
                return;
            }
            self.checkpoint = None;
        }
        if matches!(
            entry.action.as_str(),
            "audit.pruned" | "audit.anchor_resealed"
        ) && let Ok(details) = serde_json::from_str::<serde_json::Value>(&entry.details)
            && let (Some(through), Some(anchor), Some(seal)) = (
                details["through"].as_i64(),
                details["anchor"].as_str(),
                details["seal"].as_str(),
            )
        {
            self.prunes
                .push((through, anchor.to_owned(), seal.to_owned()));
        }
        self.entries += 1;
        self.expected_seq = entry.seq + 1;
        self.expected_prev.clone_from(&entry.hash);
        self.last = Some(entry);
    }

    /// The verdict, once every entry was fed: `Ok(number of entries checked)`, or the
    /// first break. `sealed(through, anchor, seal)` says whether a prune's seal is
    /// genuine: the anchor must be one a genuine prune recorded.
    pub fn finish(
        mut self,
        head: &AuditHead,
        sealed: &dyn Fn(i64, &str, &str) -> bool,
    ) -> Result<i64, Break> {
        if let Some(broken) = self.broken.take() {
            return Err(broken);
        }
        if self.expected_seq - 1 != head.seq || self.expected_prev != head.hash {
            return Err(if self.expected_seq - 1 < head.seq {
                Break::Removed {
                    seq: self.expected_seq,
                    found: None,
                }
            } else {
                Break::Head { seq: head.seq }
            });
        }
        let (through, anchor) = &self.anchor;
        if *through > 0
            && !self
                .prunes
                .iter()
                .any(|(t, a, seal)| t == through && a == anchor && sealed(*t, a, seal))
        {
            return Err(Break::Anchor {
                seq: self.anchor.0 + 1,
            });
        }
        if let Some((seq, _)) = self.checkpoint {
            // Past the newest entry: the chain lost what the checkpoint saw.
            return Err(Break::Checkpoint { seq });
        }
        Ok(self.entries)
    }
}
