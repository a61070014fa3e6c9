//! A readable diff between two versions of an article: the fields that changed, and the body
//! line by line with long unchanged runs cut down to their context.

use parley_proto::{DiffChunk, DiffLine, DiffOp};
use similar::{ChangeTag, TextDiff};
use std::time::{Duration, Instant};

/// Unchanged lines kept on each side of a change.
const CONTEXT: usize = 3;

/// How long the search for the smallest diff may take; past it the diff is correct but may be
/// longer than it needs to be (two bodies with nothing in common take seconds otherwise).
const DEADLINE: Duration = Duration::from_millis(500);

/// `from` to `to`, line by line; runs of unchanged lines longer than twice the context keep
/// the context on each side (the start and end of the text keep only the side that touches a
/// change) and say how many lines were left out.
pub fn lines(from: &str, to: &str) -> Vec<DiffChunk> {
    let diff = TextDiff::configure()
        .deadline(Instant::now() + DEADLINE)
        .diff_lines(from, to);
    let all: Vec<DiffLine> = diff
        .iter_all_changes()
        .map(|change| DiffLine {
            op: match change.tag() {
                ChangeTag::Equal => DiffOp::Same,
                ChangeTag::Insert => DiffOp::Added,
                ChangeTag::Delete => DiffOp::Removed,
            },
            text: change
                .value()
                .strip_suffix('\n')
                .unwrap_or(change.value())
                .to_string(),
        })
        .collect();
    let mut chunks = Vec::new();
    let mut at = 0;
    while at < all.len() {
        if all[at].op != DiffOp::Same {
            chunks.push(DiffChunk::Line(all[at].clone()));
            at += 1;
            continue;
        }
        let end = all[at..]
            .iter()
            .position(|line| line.op != DiffOp::Same)
            .map_or(all.len(), |n| at + n);
        let keep_before = if at == 0 { 0 } else { CONTEXT };
        let keep_after = if end == all.len() { 0 } else { CONTEXT };
        if end - at > keep_before + keep_after + 1 {
            chunks.extend(
                all[at..at + keep_before]
                    .iter()
                    .cloned()
                    .map(DiffChunk::Line),
            );
            chunks.push(DiffChunk::Skipped {
                skipped: (end - at - keep_before - keep_after) as i64,
            });
            chunks.extend(
                all[end - keep_after..end]
                    .iter()
                    .cloned()
                    .map(DiffChunk::Line),
            );
        } else {
            chunks.extend(all[at..end].iter().cloned().map(DiffChunk::Line));
        }
        at = end;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(op: DiffOp, text: &str) -> DiffChunk {
        DiffChunk::Line(DiffLine {
            op,
            text: text.into(),
        })
    }

    #[test]
    fn changes_with_context() {
        let from: String = (1..=20).map(|n| format!("{n}\n")).collect();
        let to = from.replace("10\n", "十\n");
        let chunks = lines(&from, &to);
        assert_eq!(chunks[0], DiffChunk::Skipped { skipped: 6 });
        assert_eq!(chunks[1], line(DiffOp::Same, "7"));
        assert_eq!(chunks[4], line(DiffOp::Removed, "10"));
        assert_eq!(chunks[5], line(DiffOp::Added, "十"));
        assert_eq!(chunks[8], line(DiffOp::Same, "13"));
        assert_eq!(chunks[9], DiffChunk::Skipped { skipped: 7 });
        assert_eq!(chunks.len(), 10);
    }

    #[test]
    fn bodies_with_nothing_in_common_are_compared_in_bounded_time() {
        let from = "x\n".repeat(100_000);
        let to = "y\n".repeat(100_000);
        let started = Instant::now();
        let chunks = lines(&from, &to);
        assert_eq!(chunks.len(), 200_000);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn short_runs_are_kept_whole() {
        let chunks = lines("a\nb\nc\n", "a\nb\nc\nd");
        assert_eq!(
            chunks,
            vec![
                line(DiffOp::Same, "a"),
                line(DiffOp::Same, "b"),
                line(DiffOp::Same, "c"),
                line(DiffOp::Added, "d"),
            ]
        );
        assert!(lines("same\n", "same\n")
            .iter()
            .all(|c| matches!(c, DiffChunk::Line(l) if l.op == DiffOp::Same)));
    }
}
