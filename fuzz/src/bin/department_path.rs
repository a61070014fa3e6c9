//! Department paths (`Sales/EMEA/North`), as storage splits them (`parse_department_path`) and
//! as the policy compares them (`path_within`). Input: a path, then after the first newline the
//! root it is compared with. A path that parses is made of non-empty trimmed parts of at most
//! 100 characters, and parses again to the same parts once joined.

use parley_storage::{parse_department_path, path_within};

fn main() {
    afl::fuzz(true, |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let (path, root) = text.split_once('\n').unwrap_or((text, ""));
        let within = path_within(path, root);
        if path == root {
            assert!(within, "a path is within itself");
        }
        let Ok(parts) = parse_department_path(path) else {
            return;
        };
        for part in &parts {
            assert!(!part.is_empty(), "{path:?} gave an empty part");
            assert_eq!(*part, part.trim(), "{path:?} gave an untrimmed part");
            assert!(part.chars().count() <= 100, "{path:?} gave a long part");
        }
        let joined = parts.join("/");
        assert_eq!(
            parse_department_path(&joined).as_deref(),
            Ok(&parts[..]),
            "{path:?} joined does not parse the same"
        );
    });
}
