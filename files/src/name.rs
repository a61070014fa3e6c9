//! File names: what a person may call a file, checked before anything is stored.

use thiserror::Error;

/// The longest name, in UTF-8 bytes (what most file systems allow).
pub const MAX_NAME_BYTES: usize = 255;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("a file name cannot be empty")]
    Empty,
    #[error("a file name is at most {MAX_NAME_BYTES} bytes; this one is {0}")]
    TooLong(usize),
    #[error("a file name cannot contain `/` or `\\`")]
    Separator,
    #[error("a file name cannot contain NUL or other control characters")]
    Control,
    #[error("`.` and `..` are not file names")]
    Dots,
    #[error("a file name cannot start or end with a space")]
    Spaces,
}

/// `name` as a file may be called, or why not. Non-ASCII names (`需求调研报告 V2.docx`) are
/// welcome; separators, NUL and control characters, `.`/`..` and over-long names are not.
pub fn check_name(name: &str) -> Result<&str, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong(name.len()));
    }
    if name.contains(['/', '\\']) {
        return Err(NameError::Separator);
    }
    if name.chars().any(char::is_control) {
        return Err(NameError::Control);
    }
    if name == "." || name == ".." {
        return Err(NameError::Dots);
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err(NameError::Spaces);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_people_use_pass() {
        for name in [
            "report.pdf",
            "需求调研报告 V2.docx",
            "a..b",
            ".profile",
            "ÿ",
        ] {
            assert_eq!(check_name(name), Ok(name));
        }
        let longest = "字".repeat(85); // 255 bytes
        assert!(check_name(&longest).is_ok());
    }

    #[test]
    fn bad_names_say_why() {
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name("a/b"), Err(NameError::Separator));
        assert_eq!(check_name("..\\b"), Err(NameError::Separator));
        assert_eq!(check_name("a\0b"), Err(NameError::Control));
        assert_eq!(check_name("a\nb"), Err(NameError::Control));
        assert_eq!(check_name(".."), Err(NameError::Dots));
        assert_eq!(check_name(" a"), Err(NameError::Spaces));
        assert_eq!(check_name(&"字".repeat(86)), Err(NameError::TooLong(258)));
    }
}
