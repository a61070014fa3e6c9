//! The search box's language, with no IO: words (all must match), "exact phrases", `-word` to
//! exclude, and the filters `in:` (a channel or folder), `from:` (a person), `has:file`,
//! `type:` (message, file, article, minutes, task), `before:` and `after:` (YYYY-MM-DD).
//! Names in `in:` and `from:` are resolved by the caller, against what the asker may see.

use thiserror::Error;

/// The longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 500;
/// The most words and phrases in one query.
pub const MAX_CLAUSES: usize = 16;
/// The most values of one filter (`in:a in:b …`).
pub const MAX_FILTER_VALUES: usize = 10;

/// What a search finds: the kinds the API names.
pub use parley_proto::SearchKind as Kind;

/// A word or a phrase of the query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    pub text: String,
    /// Quoted: its words must appear together, in order.
    pub phrase: bool,
    /// Preceded by `-`: results must not contain it.
    pub excluded: bool,
}

/// A calendar day, as `before:` and `after:` give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Day {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl Day {
    /// Days since 1970-01-01 (the proleptic Gregorian calendar).
    pub fn days_since_epoch(self) -> i64 {
        let (y, m, d) = (
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Midnight at the start of this day, in milliseconds since the epoch, for a reader whose
    /// clock is `utc_offset_minutes` ahead of UTC.
    pub fn start_ms(self, utc_offset_minutes: i32) -> i64 {
        self.days_since_epoch() * 86_400_000 - i64::from(utc_offset_minutes) * 60_000
    }

    fn parse(text: &str) -> Option<Day> {
        let mut parts = text.split('-');
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return None;
        }
        let day = Day {
            year: year.parse().ok()?,
            month: month.parse().ok()?,
            day: day.parse().ok()?,
        };
        let leap = day.year % 4 == 0 && (day.year % 100 != 0 || day.year % 400 == 0);
        let length = match day.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=length).contains(&day.day).then_some(day)
    }
}

/// A parsed query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pub clauses: Vec<Clause>,
    /// `in:` values, without a leading `#`.
    pub within: Vec<String>,
    /// `from:` values, without a leading `@`.
    pub from: Vec<String>,
    pub has_file: bool,
    /// `type:` values; empty for every kind.
    pub kinds: Vec<Kind>,
    /// Only what was made before the start of this day.
    pub before: Option<Day>,
    /// Only what was made on or after the start of the day after this one.
    pub after: Option<Day>,
}

/// Why a query cannot be run. Each says what to change.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("the query is empty: type a word, a \"phrase\" or a filter such as from:name")]
    Empty,
    #[error("the query is longer than {MAX_QUERY_BYTES} bytes")]
    TooLong,
    #[error("the query has more than {MAX_CLAUSES} words and phrases")]
    TooManyClauses,
    #[error("`{0}:` is given more than {MAX_FILTER_VALUES} times")]
    TooManyValues(&'static str),
    #[error("a quote is not closed: end the phrase with \"")]
    UnclosedQuote,
    #[error("`{filter}:` needs a value, such as {example}")]
    MissingValue {
        filter: &'static str,
        example: &'static str,
    },
    #[error("`{filter}:{value}` is not understood: {expected}")]
    BadValue {
        filter: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("the query only excludes: add a word, a phrase or a filter to look for")]
    OnlyExclusions,
}

/// One piece of the query as written: a word, a phrase, or `name:value`.
struct Piece {
    excluded: bool,
    filter: Option<&'static str>,
    value: String,
    quoted: bool,
}

fn pieces(text: &str) -> Result<Vec<Piece>, QueryError> {
    let mut pieces = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let mut excluded = false;
        if let Some(after) = rest.strip_prefix('-') {
            if after.starts_with(|c: char| !c.is_whitespace()) {
                excluded = true;
                rest = after;
            }
        }
        let mut filter = None;
        if let Some((name, after)) = rest.split_once(':') {
            if let Some(known) = FILTERS.iter().find(|f| f.eq_ignore_ascii_case(name)) {
                filter = Some(*known);
                rest = after;
            }
        }
        let (value, quoted, after) = if let Some(inner) = rest.strip_prefix('"') {
            let end = inner.find('"').ok_or(QueryError::UnclosedQuote)?;
            (&inner[..end], true, &inner[end + 1..])
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], false, &rest[end..])
        };
        pieces.push(Piece {
            excluded,
            filter,
            value: value.to_string(),
            quoted,
        });
        rest = after.trim_start();
    }
    Ok(pieces)
}

const FILTERS: [&str; 6] = ["in", "from", "has", "type", "before", "after"];

/// Parse what the asker typed.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TooLong);
    }
    let mut query = Query::default();
    for Piece {
        excluded,
        filter,
        value,
        quoted,
    } in pieces(text)?
    {
        let Some(filter) = filter else {
            if value.trim().is_empty() {
                continue;
            }
            if query.clauses.len() == MAX_CLAUSES {
                return Err(QueryError::TooManyClauses);
            }
            query.clauses.push(Clause {
                text: value,
                phrase: quoted,
                excluded,
            });
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(QueryError::MissingValue {
                filter,
                example: match filter {
                    "in" => "in:general",
                    "from" => "from:alice",
                    "has" => "has:file",
                    "type" => "type:message",
                    _ => "after:2026-01-31",
                },
            });
        }
        match filter {
            "in" => push_value(&mut query.within, "in", value.trim_start_matches('#'))?,
            "from" => push_value(&mut query.from, "from", value.trim_start_matches('@'))?,
            "has" if value.eq_ignore_ascii_case("file") => query.has_file = true,
            "has" => return Err(bad("has", value, "the one value is has:file")),
            "type" => {
                let kind = Kind::parse(&value.to_ascii_lowercase()).ok_or_else(|| {
                    bad("type", value, "use message, file, article, minutes or task")
                })?;
                if !query.kinds.contains(&kind) {
                    query.kinds.push(kind);
                }
            }
            _ => {
                let day = Day::parse(value)
                    .ok_or_else(|| bad(filter, value, "give a date as YYYY-MM-DD"))?;
                if filter == "before" {
                    query.before = Some(day);
                } else {
                    query.after = Some(day);
                }
            }
        }
    }
    let looks_for = query.clauses.iter().any(|c| !c.excluded)
        || !query.within.is_empty()
        || !query.from.is_empty()
        || query.has_file
        || !query.kinds.is_empty()
        || query.before.is_some()
        || query.after.is_some();
    if looks_for {
        Ok(query)
    } else if query.clauses.is_empty() {
        Err(QueryError::Empty)
    } else {
        Err(QueryError::OnlyExclusions)
    }
}

fn push_value(
    values: &mut Vec<String>,
    filter: &'static str,
    value: &str,
) -> Result<(), QueryError> {
    if values.len() == MAX_FILTER_VALUES {
        return Err(QueryError::TooManyValues(filter));
    }
    values.push(value.to_string());
    Ok(())
}

fn bad(filter: &'static str, value: &str, expected: &'static str) -> QueryError {
    QueryError::BadValue {
        filter,
        value: value.to_string(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(text: &str) -> Clause {
        Clause {
            text: text.into(),
            phrase: false,
            excluded: false,
        }
    }

    #[test]
    fn words_phrases_exclusions_and_filters() {
        let q = parse(r#"报告 "quarterly review" -draft in:#sales from:@alice has:file type:file after:2026-01-31 before:2026-03-01"#).unwrap();
        assert_eq!(
            q.clauses,
            [
                word("报告"),
                Clause {
                    text: "quarterly review".into(),
                    phrase: true,
                    excluded: false
                },
                Clause {
                    text: "draft".into(),
                    phrase: false,
                    excluded: true
                },
            ]
        );
        assert_eq!(q.within, ["sales"]);
        assert_eq!(q.from, ["alice"]);
        assert!(q.has_file);
        assert_eq!(q.kinds, [Kind::File]);
        assert_eq!(
            q.after,
            Some(Day {
                year: 2026,
                month: 1,
                day: 31
            })
        );
        assert_eq!(
            q.before,
            Some(Day {
                year: 2026,
                month: 3,
                day: 1
            })
        );
    }

    #[test]
    fn quoted_filter_values_and_unknown_prefixes() {
        let q = parse(r#"in:"product launch" https://example.com"#).unwrap();
        assert_eq!(q.within, ["product launch"]);
        assert_eq!(q.clauses, [word("https://example.com")]);
    }

    #[test]
    fn filters_alone_are_a_query() {
        assert_eq!(parse("from:bob").unwrap().from, ["bob"]);
    }

    #[test]
    fn malformed_queries_say_what_is_wrong() {
        assert_eq!(parse("   "), Err(QueryError::Empty));
        assert_eq!(parse("-draft"), Err(QueryError::OnlyExclusions));
        assert_eq!(parse("\"open"), Err(QueryError::UnclosedQuote));
        assert!(matches!(
            parse("has:link"),
            Err(QueryError::BadValue { filter: "has", .. })
        ));
        assert!(matches!(
            parse("type:song"),
            Err(QueryError::BadValue { filter: "type", .. })
        ));
        assert!(matches!(
            parse("before:2026-02-30"),
            Err(QueryError::BadValue { .. })
        ));
        assert!(matches!(
            parse("after:yesterday"),
            Err(QueryError::BadValue { .. })
        ));
        assert!(matches!(
            parse("from:"),
            Err(QueryError::MissingValue { filter: "from", .. })
        ));
        assert_eq!(
            parse(&"x".repeat(MAX_QUERY_BYTES + 1)),
            Err(QueryError::TooLong)
        );
        let many = vec!["w"; MAX_CLAUSES + 1].join(" ");
        assert_eq!(parse(&many), Err(QueryError::TooManyClauses));
    }

    #[test]
    fn days_count_from_the_epoch() {
        assert_eq!(
            Day {
                year: 1970,
                month: 1,
                day: 1
            }
            .days_since_epoch(),
            0
        );
        assert_eq!(
            Day {
                year: 2000,
                month: 3,
                day: 1
            }
            .days_since_epoch(),
            11_017
        );
        assert_eq!(
            Day {
                year: 2026,
                month: 12,
                day: 7
            }
            .start_ms(480),
            Day {
                year: 2026,
                month: 12,
                day: 7
            }
            .start_ms(0)
                - 8 * 3_600_000
        );
    }
}
