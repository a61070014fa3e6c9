//! The organisation import file (`POST /v1/admin/import`), as `org_csv::parse` reads it. A
//! file is either rows or a list of problems, each naming a line; never a panic.

fn main() {
    afl::fuzz(true, |data: &[u8]| {
        match parley_signaling::org_csv::parse(data) {
            Ok(rows) => {
                for department in rows.iter().filter_map(|r| r.department.as_deref()) {
                    assert!(
                        parley_storage::parse_department_path(department).is_ok(),
                        "an accepted row has a valid department path"
                    );
                }
            }
            Err(problems) => assert!(!problems.is_empty(), "a refusal says why"),
        }
    });
}
