//! The search box's query (`parley_search::parse`) and, when it parses, the search itself over
//! a small index of Chinese and English messages, as `GET /v1/search` runs it. Input: the query
//! text. A query either parses or says why; a search never fails and never returns more than
//! its page or than its total, nor a result from a channel it was not given.

use std::sync::OnceLock;

use parley_search::{parse, Document, Kind, Request, SearchIndex};

fn index() -> &'static SearchIndex {
    static INDEX: OnceLock<SearchIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("parley-fuzz-search-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (index, _) = SearchIndex::open(&dir).expect("open the index");
        let texts = [
            "需求调研报告 V2 已经上传，请大家审阅",
            "The quarterly reports are ready for review",
            "第三季度预算报告只给财务部看 Q3 budget report",
            "发布会定在周五 launch on Friday 😀 contract_v3.pdf",
            "",
        ];
        for (i, text) in texts.iter().enumerate() {
            let id = i as i64 + 1;
            index
                .put(&Document {
                    kind: Kind::Message,
                    id,
                    channel: id % 2 + 1,
                    folder: 0,
                    meeting: 0,
                    space: 0,
                    people: Vec::new(),
                    author: id % 3,
                    created_ms: 1_700_000_000_000 + id * 86_400_000,
                    has_file: id == 4,
                    title: String::new(),
                    text: (*text).to_string(),
                })
                .expect("index a message");
        }
        index.commit(&Default::default()).expect("commit");
        index
    })
}

fn main() {
    afl::fuzz(true, |data: &[u8]| {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        let Ok(query) = parse(text) else {
            return;
        };
        let page = index()
            .search(&Request {
                clauses: query.clauses,
                channels: vec![1],
                authors: if query.from.is_empty() {
                    vec![]
                } else {
                    vec![1, 2]
                },
                has_file: query.has_file,
                kinds: query.kinds,
                since_ms: query.after.map(|d| d.start_ms(0)),
                until_ms: query.before.map(|d| d.start_ms(480)),
                limit: 3,
                now_ms: 1_800_000_000_000,
                ..Request::default()
            })
            .expect("a parsed query always runs");
        assert!(page.hits.len() <= 3);
        assert!(page.hits.len() <= page.total);
        for hit in &page.hits {
            assert_eq!(
                hit.channel, 1,
                "a result from a channel the search was not given"
            );
        }
    });
}
