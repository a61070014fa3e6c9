//! Parse an organisation import file: CSV with a header naming `name`, `email`, `department`
//! and `role` (in any order, any case). Every bad line is reported, with its number and why;
//! a file with any bad line is rejected whole.

use parley_proto::{ErrorItem, Role};
use parley_storage::{normalize_email, parse_department_path, ImportRow};
use std::collections::HashMap;

const COLUMNS: [&str; 4] = ["name", "email", "department", "role"];

pub fn parse(data: &[u8]) -> Result<Vec<ImportRow>, Vec<ErrorItem>> {
    let problem = |line: u64, reason: String| ErrorItem { line, reason };
    let text = std::str::from_utf8(data).map_err(|e| {
        vec![problem(
            1,
            format!(
                "the file is not UTF-8 text (byte {}); save it as CSV UTF-8",
                e.valid_up_to()
            ),
        )]
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| vec![problem(1, format!("cannot read the header: {e}"))])?
        .clone();
    let mut index = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        index.insert(h.to_ascii_lowercase(), i);
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .copied()
        .filter(|c| !index.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        return Err(vec![problem(
            1,
            format!(
                "the header lacks column(s) {}; expected name,email,department,role",
                missing.join(", ")
            ),
        )]);
    }
    let unknown: Vec<&str> = headers
        .iter()
        .filter(|h| !COLUMNS.contains(&h.to_ascii_lowercase().as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(vec![problem(
            1,
            format!("unknown column(s) {}", unknown.join(", ")),
        )]);
    }

    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(problem(line, format!("cannot read the line: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        if record.len() != headers.len() {
            problems.push(problem(
                line,
                format!(
                    "has {} fields, the header has {}",
                    record.len(),
                    headers.len()
                ),
            ));
            continue;
        }
        let field = |name: &str| record.get(index[name]).unwrap_or("").to_string();
        let mut reasons = Vec::new();
        let name = field("name");
        if let Err(err) = crate::routes::users::validate_name(&name) {
            reasons.push(err.message);
        }
        let email = normalize_email(&field("email"));
        if let Err(err) = crate::routes::users::validate_new_user(&email, "x") {
            reasons.push(err.message);
        } else if let Some(first) = seen.get(&email) {
            reasons.push(format!("email {email} already appears on line {first}"));
        } else {
            seen.insert(email.clone(), line);
        }
        let department = field("department");
        let department = if department.is_empty() {
            None
        } else {
            match parse_department_path(&department) {
                Ok(parts) => Some(parts.join("/")),
                Err(reason) => {
                    reasons.push(reason);
                    None
                }
            }
        };
        let role = match field("role").to_ascii_lowercase().parse::<Role>() {
            Ok(role) => Some(role),
            Err(reason) => {
                reasons.push(reason);
                None
            }
        };
        match (reasons.is_empty(), role) {
            (true, Some(role)) => rows.push(ImportRow {
                line,
                name,
                email,
                department,
                role,
            }),
            _ => problems.push(problem(line, reasons.join("; "))),
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_file_with_bom_any_column_order_and_chinese_names() {
        let file = "\u{feff}Email,Name,Role,Department\nli@example.cn,李娜,member,总部/研发部\nbob@example.com,Bob,guest,\n";
        let rows = parse(file.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "李娜");
        assert_eq!(rows[0].department.as_deref(), Some("总部/研发部"));
        assert_eq!(rows[1].department, None);
        assert_eq!(rows[1].role, Role::Guest);
    }

    #[test]
    fn every_bad_line_is_reported() {
        let file = "name,email,department,role\n\
                    Ann,ann@x.com,HQ,member\n\
                    ,nobody@x.com,HQ,member\n\
                    Cat,not-an-email,HQ,member\n\
                    Dan,dan@x.com,HQ//Ops,member\n\
                    Eve,eve@x.com,HQ,boss\n\
                    Ann Again,ANN@x.com,HQ,member\n\
                    Too,few\n";
        let problems = parse(file.as_bytes()).unwrap_err();
        let lines: Vec<u64> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7, 8], "{problems:?}");
        assert!(
            problems[5 - 1].reason.contains("already appears on line 2"),
            "{problems:?}"
        );
    }

    #[test]
    fn header_problems() {
        let problems = parse(b"name,email,role\nA,a@x.com,member\n").unwrap_err();
        assert!(problems[0].reason.contains("department"));
        let problems = parse(b"name,email,department,role,salary\n").unwrap_err();
        assert!(problems[0].reason.contains("salary"));
        let problems = parse(&[0xff, 0xfe, 0x00]).unwrap_err();
        assert!(problems[0].reason.contains("UTF-8"));
    }
}
