//! The index on disk (tantivy, in `[search] dir`): one document per message, library file,
//! meeting's minutes and task (later articles), each with where it lives (channel, folder or
//! meeting, and the people a task names), who made it and when, and its text. The follower's
//! position in each channel's event stream and in the search feed is saved in the
//! same commit as the documents it led to, so a crash at any point resumes exactly there:
//! nothing is missed and nothing is indexed twice (a document is replaced by its key).
//!
//! Searching takes the places the asker may read right now as a filter, so nothing else can be
//! a result, a count or a snippet.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, Occur, PhraseQuery, Query as TantivyQuery, RangeQuery,
    TermQuery, TermSetQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, SegmentReader,
    TantivyDocument, TantivyError, Term,
};

use crate::analyzer::{analyzer, words, ANALYZER};
use crate::query::{Clause, Kind};

/// Bumped whenever the schema or the analyzer changes: an index of another version is rebuilt.
const FORMAT: u32 = 3;
/// The writer's memory before it flushes a segment (tantivy's floor is 15 MB per thread).
const WRITER_BYTES: usize = 24 * 1024 * 1024;
/// The longest snippet, in characters.
const SNIPPET_CHARS: usize = 160;
/// How fast an old item sinks: its relevance halves every this many days (down to a floor).
const RECENCY_HALF_LIFE_DAYS: f32 = 30.0;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(
        "another process is writing the search index at {0} (stop the server on this node first)"
    )]
    InUse(PathBuf),
    #[error("search index at {path}: {source}")]
    Index {
        path: PathBuf,
        #[source]
        source: TantivyError,
    },
    #[error("search index: {0}")]
    Tantivy(#[from] TantivyError),
    #[error("search index folder {path}: {source}")]
    Folder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The last sequence number read in each channel's event stream.
pub type Cursors = BTreeMap<i64, i64>;

/// Where the follower stands, saved with the documents it led to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub channels: Cursors,
    /// The newest change read from the search feed (ms, the database's clock).
    pub feed_at: i64,
}

/// The commit's payload. (Not `Position` flattened: serde's flatten cannot read a map's
/// numeric keys back.)
#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    format: u32,
    channels: Cursors,
    #[serde(default)]
    feed_at: i64,
}

/// One item as the index holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub kind: Kind,
    pub id: i64,
    /// The channel it belongs to (0: none).
    pub channel: i64,
    /// The folder it belongs to (0: none).
    pub folder: i64,
    /// The meeting it belongs to (0: none): those who may see the meeting may read it.
    pub meeting: i64,
    /// The knowledge-base space it belongs to (0: none).
    pub space: i64,
    /// People who may read it wherever it is (a task's assignee and creator).
    pub people: Vec<i64>,
    /// Who wrote or uploaded it (0: nobody, such as a system message).
    pub author: i64,
    pub created_ms: i64,
    pub has_file: bool,
    /// Shown above the snippet (a file's name, an article's title); searched with the text.
    pub title: String,
    pub text: String,
}

/// What the index was found in when opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// As the last commit left it.
    Existing,
    /// There was none.
    Created,
    /// It could not be read (or was of an older format): it was emptied, to be filled again.
    Rebuilt(String),
}

/// A search, with every name already resolved to what the asker may read.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub clauses: Vec<Clause>,
    /// The channels the asker may read (narrowed by `in:`); an empty list matches none.
    pub channels: Vec<i64>,
    /// The folders the asker may read (narrowed by `in:`); an empty list matches none.
    pub folders: Vec<i64>,
    /// The meetings whose minutes and tasks the asker may read; an empty list matches none.
    pub meetings: Vec<i64>,
    /// The knowledge-base spaces the asker may read; an empty list matches none.
    pub spaces: Vec<i64>,
    /// The asker, for what names them among its `people` (0: nobody).
    pub person: i64,
    /// `from:`; empty for anyone.
    pub authors: Vec<i64>,
    pub has_file: bool,
    /// `type:`; empty for every kind.
    pub kinds: Vec<Kind>,
    /// Made at or after this time (ms).
    pub since_ms: Option<i64>,
    /// Made before this time (ms).
    pub until_ms: Option<i64>,
    pub offset: usize,
    pub limit: usize,
    /// For ranking by recency.
    pub now_ms: i64,
}

/// A piece of a snippet: `hit` pieces are the words that matched.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Segment {
    pub text: String,
    pub hit: bool,
}

#[derive(Clone, Debug)]
pub struct Hit {
    pub kind: Kind,
    pub id: i64,
    pub channel: i64,
    pub folder: i64,
    pub meeting: i64,
    pub space: i64,
    pub author: i64,
    pub created_ms: i64,
    pub score: f32,
    pub title: String,
    pub snippet: Vec<Segment>,
}

#[derive(Clone, Debug, Default)]
pub struct Page {
    /// Everything that matched (that the asker may read), not only this page.
    pub total: usize,
    pub hits: Vec<Hit>,
}

#[derive(Clone, Copy)]
struct Fields {
    key: Field,
    kind: Field,
    id: Field,
    channel: Field,
    folder: Field,
    meeting: Field,
    space: Field,
    people: Field,
    author: Field,
    created: Field,
    has_file: Field,
    title: Field,
    text: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text_options = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let fields = Fields {
        key: builder.add_text_field("key", STRING),
        kind: builder.add_text_field("kind", STRING | STORED),
        id: builder.add_i64_field("id", STORED | FAST),
        channel: builder.add_i64_field("channel", INDEXED | STORED),
        folder: builder.add_i64_field("folder", INDEXED | STORED),
        meeting: builder.add_i64_field("meeting", INDEXED | STORED),
        space: builder.add_i64_field("space", INDEXED | STORED),
        people: builder.add_i64_field("people", INDEXED),
        author: builder.add_i64_field("author", INDEXED | STORED),
        created: builder.add_i64_field("created", INDEXED | FAST | STORED),
        has_file: builder.add_bool_field("has_file", INDEXED),
        title: builder.add_text_field("title", STORED),
        text: builder.add_text_field("text", text_options),
    };
    (builder.build(), fields)
}

fn key(kind: Kind, id: i64) -> String {
    format!("{}:{id}", kind.as_str())
}

pub struct SearchIndex {
    path: PathBuf,
    index: Index,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    fields: Fields,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Open the index in `dir`, creating it if there is none and emptying it if it cannot be
    /// read: the follower fills it again from the database. Only a second writer is an error.
    pub fn open(dir: &Path) -> Result<(SearchIndex, Opened), SearchError> {
        let folder = |source| SearchError::Folder {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(folder)?;
        let fresh = std::fs::read_dir(dir).map_err(folder)?.next().is_none();
        let damage = if fresh {
            None
        } else {
            match Self::open_existing(dir) {
                Ok(index) => return Ok((index, Opened::Existing)),
                Err(SearchError::InUse(path)) => return Err(SearchError::InUse(path)),
                Err(err) => Some(err.to_string()),
            }
        };
        if damage.is_some() {
            // Only tantivy's files are removed: an operator's file beside them stays.
            for entry in std::fs::read_dir(dir).map_err(folder)? {
                let path = entry.map_err(folder)?.path();
                if path.is_file() {
                    std::fs::remove_file(&path).map_err(folder)?;
                }
            }
        }
        let (schema, _) = schema();
        let index = Index::create_in_dir(dir, schema).map_err(|source| SearchError::Index {
            path: dir.to_path_buf(),
            source,
        })?;
        let opened = Self::ready(dir, index)?;
        opened.commit(&Position::default())?;
        Ok((opened, damage.map_or(Opened::Created, Opened::Rebuilt)))
    }

    fn open_existing(dir: &Path) -> Result<SearchIndex, SearchError> {
        let index = Index::open_in_dir(dir)?;
        if index.schema() != schema().0 {
            return Err(SearchError::Tantivy(TantivyError::SchemaError(
                "the index was made by another version of Parley".into(),
            )));
        }
        let opened = Self::ready(dir, index)?;
        // Read the position and every segment once, so damage shows now and not mid-search.
        let payload = opened.payload()?;
        if payload.format != FORMAT {
            return Err(SearchError::Tantivy(TantivyError::SchemaError(format!(
                "index format {} (this version writes {FORMAT})",
                payload.format
            ))));
        }
        let searcher = opened.reader.searcher();
        searcher.search(&AllQuery, &Count)?;
        for segment in searcher.segment_readers() {
            let store = segment
                .get_store_reader(1)
                .map_err(|source| SearchError::Folder {
                    path: dir.to_path_buf(),
                    source,
                })?;
            if segment.max_doc() > 0 {
                store.get::<TantivyDocument>(0)?;
            }
        }
        Ok(opened)
    }

    fn ready(dir: &Path, mut index: Index) -> Result<SearchIndex, SearchError> {
        index.tokenizers().register(ANALYZER, analyzer());
        // A search reads its segments in parallel, one thread per core: a word found in a
        // fifth of a million messages answers in half the time on two cores.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        if threads > 1 {
            index.set_multithread_executor(threads)?;
        }
        let writer = match index.writer_with_num_threads(1, WRITER_BYTES) {
            Ok(writer) => writer,
            Err(TantivyError::LockFailure(..)) => {
                return Err(SearchError::InUse(dir.to_path_buf()))
            }
            Err(err) => return Err(err.into()),
        };
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let (_, fields) = schema();
        Ok(SearchIndex {
            path: dir.to_path_buf(),
            index,
            writer: Mutex::new(writer),
            reader,
            fields,
        })
    }

    fn payload(&self) -> Result<Payload, SearchError> {
        let metas = self.index.load_metas()?;
        match metas.payload {
            Some(text) => serde_json::from_str(&text).map_err(|err| {
                SearchError::Tantivy(TantivyError::SchemaError(format!(
                    "the follower's position cannot be read: {err}"
                )))
            }),
            None => Ok(Payload {
                format: FORMAT,
                channels: Cursors::new(),
                feed_at: 0,
            }),
        }
    }

    /// The follower's position as of the last commit.
    pub fn position(&self) -> Result<Position, SearchError> {
        let payload = self.payload()?;
        Ok(Position {
            channels: payload.channels,
            feed_at: payload.feed_at,
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Add `doc`, replacing what the index had under the same kind and id. Seen by searches
    /// after the next commit.
    pub fn put(&self, doc: &Document) -> Result<(), SearchError> {
        let f = self.fields;
        let key = key(doc.kind, doc.id);
        let mut body = String::with_capacity(doc.title.len() + doc.text.len() + 1);
        if !doc.title.is_empty() {
            body.push_str(&doc.title);
            body.push('\n');
        }
        body.push_str(&doc.text);
        let mut document = TantivyDocument::new();
        document.add_text(f.key, &key);
        document.add_text(f.kind, doc.kind.as_str());
        document.add_i64(f.id, doc.id);
        document.add_i64(f.channel, doc.channel);
        document.add_i64(f.folder, doc.folder);
        document.add_i64(f.meeting, doc.meeting);
        document.add_i64(f.space, doc.space);
        for person in &doc.people {
            document.add_i64(f.people, *person);
        }
        document.add_i64(f.author, doc.author);
        document.add_i64(f.created, doc.created_ms);
        document.add_bool(f.has_file, doc.has_file);
        document.add_text(f.title, &doc.title);
        document.add_text(f.text, &body);
        let writer = self.writer();
        writer.delete_term(Term::from_field_text(f.key, &key));
        writer.add_document(document)?;
        Ok(())
    }

    /// Remove the item of `kind` and `id`, if the index has it.
    pub fn remove(&self, kind: Kind, id: i64) {
        self.writer()
            .delete_term(Term::from_field_text(self.fields.key, &key(kind, id)));
    }

    /// Make everything put and removed since the last commit visible, together with the
    /// follower's new position.
    pub fn commit(&self, position: &Position) -> Result<(), SearchError> {
        let payload = serde_json::to_string(&Payload {
            format: FORMAT,
            channels: position.channels.clone(),
            feed_at: position.feed_at,
        })
        .unwrap_or_default();
        {
            let mut writer = self.writer();
            let mut prepared = writer.prepare_commit()?;
            prepared.set_payload(&payload);
            prepared.commit()?;
        }
        self.reader.reload()?;
        Ok(())
    }

    /// Forget everything (for a rebuild): the follower starts again from the beginning.
    pub fn clear(&self) -> Result<(), SearchError> {
        self.writer().delete_all_documents()?;
        self.commit(&Position::default())
    }

    /// How many items the index holds.
    pub fn len(&self) -> Result<usize, SearchError> {
        Ok(self.reader.searcher().search(&AllQuery, &Count)?)
    }

    pub fn is_empty(&self) -> Result<bool, SearchError> {
        Ok(self.len()? == 0)
    }

    /// The folder the index lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `request`: the asker's page of results, best first, and how many there are.
    pub fn search(&self, request: &Request) -> Result<Page, SearchError> {
        let f = self.fields;
        let Some(text) = self.text_query(&request.clauses) else {
            return Ok(Page::default());
        };
        let mut scope: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        if !request.channels.is_empty() {
            scope.push((
                Occur::Should,
                Box::new(any_of(f.channel, &request.channels)),
            ));
        }
        if !request.folders.is_empty() {
            scope.push((Occur::Should, Box::new(any_of(f.folder, &request.folders))));
        }
        if !request.meetings.is_empty() {
            scope.push((
                Occur::Should,
                Box::new(any_of(f.meeting, &request.meetings)),
            ));
        }
        if !request.spaces.is_empty() {
            scope.push((Occur::Should, Box::new(any_of(f.space, &request.spaces))));
        }
        if request.person != 0 {
            scope.push((Occur::Should, Box::new(any_of(f.people, &[request.person]))));
        }
        if scope.is_empty() {
            return Ok(Page::default());
        }
        let mut filters: Vec<Box<dyn TantivyQuery>> = vec![Box::new(BooleanQuery::new(scope))];
        if !request.authors.is_empty() {
            filters.push(Box::new(any_of(f.author, &request.authors)));
        }
        if request.has_file {
            filters.push(Box::new(TermQuery::new(
                Term::from_field_bool(f.has_file, true),
                IndexRecordOption::Basic,
            )));
        }
        if !request.kinds.is_empty() {
            let kinds = request
                .kinds
                .iter()
                .map(|kind| Term::from_field_text(f.kind, kind.as_str()));
            filters.push(Box::new(TermSetQuery::new(kinds)));
        }
        if request.since_ms.is_some() || request.until_ms.is_some() {
            let bound = |ms: Option<i64>, inclusive: bool| match ms {
                None => Bound::Unbounded,
                Some(ms) if inclusive => Bound::Included(Term::from_field_i64(f.created, ms)),
                Some(ms) => Bound::Excluded(Term::from_field_i64(f.created, ms)),
            };
            filters.push(Box::new(RangeQuery::new(
                bound(request.since_ms, true),
                bound(request.until_ms, false),
            )));
        }
        let mut all: Vec<(Occur, Box<dyn TantivyQuery>)> = filters
            .into_iter()
            .map(|filter| {
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(filter, 0.0)) as Box<dyn TantivyQuery>,
                )
            })
            .collect();
        let words_query = text.positive.is_some();
        all.push((
            Occur::Must,
            text.positive.as_ref().map_or_else(
                || Box::new(AllQuery) as Box<dyn TantivyQuery>,
                |q| q.box_clone(),
            ),
        ));
        for excluded in text.excluded {
            all.push((Occur::MustNot, excluded));
        }
        let query = BooleanQuery::new(all);

        let now = request.now_ms;
        let ranked = TopDocs::with_limit(request.limit.max(1))
            .and_offset(request.offset)
            .tweak_score(move |segment: &SegmentReader| {
                let column = |name| {
                    segment
                        .fast_fields()
                        .i64(name)
                        .map(|column| column.first_or_default_col(0))
                        .ok()
                };
                let (created, ids) = (column("created"), column("id"));
                move |doc, score: f32| {
                    let made = created.as_ref().map_or(now, |column| column.get_val(doc));
                    let id = ids.as_ref().map_or(0, |column| column.get_val(doc));
                    let days = ((now - made).max(0) as f32) / 86_400_000.0;
                    let recency = (-days / RECENCY_HALF_LIFE_DAYS).exp2();
                    // Without words, newest first; with words, relevance leads and recency
                    // lifts the newer of two similar matches. Ties go to the newer, then to the
                    // higher id, so pages do not shift when segments are merged.
                    let ranked = if words_query {
                        score * (0.4 + 0.6 * recency)
                    } else {
                        recency
                    };
                    (ranked, made, id)
                }
            });
        let searcher = self.reader.searcher();
        let (top, total) = searcher.search(&query, &(ranked, Count))?;
        let snippets = match &text.positive {
            Some(positive) => {
                let mut generator = SnippetGenerator::create(&searcher, positive.as_ref(), f.text)?;
                generator.set_max_num_chars(SNIPPET_CHARS);
                Some(generator)
            }
            None => None,
        };
        let mut hits = Vec::with_capacity(top.len());
        for ((score, _, _), address) in top {
            hits.push(self.hit(&searcher, address, score, snippets.as_ref())?);
        }
        Ok(Page { total, hits })
    }

    fn hit(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        score: f32,
        snippets: Option<&SnippetGenerator>,
    ) -> Result<Hit, SearchError> {
        let f = self.fields;
        let doc: TantivyDocument = searcher.doc(address)?;
        let int = |field| doc.get_first(field).and_then(|v| v.as_i64()).unwrap_or(0);
        let text = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let snippet = snippets
            .map(|generator| generator.snippet_from_doc(&doc))
            .filter(|snippet| !snippet.is_empty())
            .map(|snippet| segments(snippet.fragment(), snippet.highlighted()))
            .unwrap_or_else(|| {
                let body = text(f.text);
                vec![Segment {
                    text: body.chars().take(SNIPPET_CHARS).collect(),
                    hit: false,
                }]
            });
        Ok(Hit {
            kind: Kind::parse(&text(f.kind)).unwrap_or(Kind::Message),
            id: int(f.id),
            channel: int(f.channel),
            folder: int(f.folder),
            meeting: int(f.meeting),
            space: int(f.space),
            author: int(f.author),
            created_ms: int(f.created),
            score,
            title: text(f.title),
            snippet,
        })
    }

    /// The words and phrases as queries: `None` when a word the asker looks for has nothing
    /// the index could hold (only punctuation), so nothing can match.
    fn text_query(&self, clauses: &[Clause]) -> Option<TextQuery> {
        let field = self.fields.text;
        let mut positive: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        let mut excluded = Vec::new();
        for clause in clauses {
            let terms: Vec<Term> = words(&clause.text)
                .iter()
                .map(|word| Term::from_field_text(field, word))
                .collect();
            let query: Box<dyn TantivyQuery> = match terms.len() {
                0 if clause.excluded => continue,
                0 => return None,
                1 => Box::new(TermQuery::new(
                    terms[0].clone(),
                    IndexRecordOption::WithFreqs,
                )),
                _ if clause.phrase => Box::new(PhraseQuery::new(terms)),
                // A word the segmenter split (需求调研 → 需求 调研): each part must be there.
                _ => Box::new(BooleanQuery::new(
                    terms
                        .into_iter()
                        .map(|term| {
                            (
                                Occur::Must,
                                Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
                                    as Box<dyn TantivyQuery>,
                            )
                        })
                        .collect(),
                )),
            };
            if clause.excluded {
                excluded.push(query);
            } else {
                positive.push((Occur::Must, query));
            }
        }
        Some(TextQuery {
            positive: (!positive.is_empty())
                .then(|| Box::new(BooleanQuery::new(positive)) as Box<dyn TantivyQuery>),
            excluded,
        })
    }
}

/// `fragment` cut into pieces at the `highlighted` byte ranges. The ranges may overlap (a word
/// and the shorter words inside it) or reach past the fragment's end: they are merged and
/// clamped, and one that does not fall on character boundaries is left unmarked.
fn segments(fragment: &str, highlighted: &[std::ops::Range<usize>]) -> Vec<Segment> {
    let mut ranges: Vec<std::ops::Range<usize>> = highlighted.to_vec();
    ranges.sort_by_key(|range| (range.start, std::cmp::Reverse(range.end)));
    let mut segments = Vec::new();
    let mut at = 0;
    for range in ranges {
        let start = range.start.max(at);
        let end = range.end.min(fragment.len());
        if start >= end || !fragment.is_char_boundary(start) || !fragment.is_char_boundary(end) {
            continue;
        }
        if start > at {
            segments.push(Segment {
                text: fragment[at..start].to_string(),
                hit: false,
            });
        }
        match segments.last_mut() {
            // Two matched words side by side (交货 and 期限 of 交货期限) read as one mark.
            Some(last) if last.hit && start == at => last.text.push_str(&fragment[start..end]),
            _ => segments.push(Segment {
                text: fragment[start..end].to_string(),
                hit: true,
            }),
        }
        at = end;
    }
    if at < fragment.len() {
        segments.push(Segment {
            text: fragment[at..].to_string(),
            hit: false,
        });
    }
    segments
}

struct TextQuery {
    positive: Option<Box<dyn TantivyQuery>>,
    excluded: Vec<Box<dyn TantivyQuery>>,
}

fn any_of(field: Field, values: &[i64]) -> TermSetQuery {
    TermSetQuery::new(values.iter().map(|v| Term::from_field_i64(field, *v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;

    const DAY: i64 = 86_400_000;
    const NOW: i64 = 1_800_000_000_000;

    fn at(channels: &[(i64, i64)]) -> Position {
        Position {
            channels: channels.iter().copied().collect(),
            feed_at: 0,
        }
    }

    fn message(id: i64, channel: i64, author: i64, age_days: i64, text: &str) -> Document {
        Document {
            kind: Kind::Message,
            id,
            channel,
            folder: 0,
            meeting: 0,
            space: 0,
            people: Vec::new(),
            author,
            created_ms: NOW - age_days * DAY,
            has_file: false,
            title: String::new(),
            text: text.into(),
        }
    }

    fn corpus(dir: &Path) -> SearchIndex {
        let (index, opened) = SearchIndex::open(dir).unwrap();
        assert_eq!(opened, Opened::Created);
        for doc in [
            message(1, 10, 100, 40, "需求调研报告 V2 已经上传，请大家审阅"),
            message(2, 10, 101, 1, "The quarterly report is ready for review"),
            message(3, 20, 100, 2, "财务部的报告只给财务看"),
            message(4, 10, 101, 3, "Reporting lunch: nothing to review"),
            Document {
                has_file: true,
                ..message(5, 10, 100, 5, "合同扫描件\ncontract.pdf")
            },
        ] {
            index.put(&doc).unwrap();
        }
        index.commit(&at(&[(10, 7), (20, 1)])).unwrap();
        index
    }

    fn ids(index: &SearchIndex, text: &str, channels: &[i64]) -> Vec<i64> {
        let query = parse(text).unwrap();
        let page = index
            .search(&Request {
                clauses: query.clauses,
                channels: channels.to_vec(),
                has_file: query.has_file,
                kinds: query.kinds,
                limit: 20,
                now_ms: NOW,
                ..Request::default()
            })
            .unwrap();
        assert_eq!(page.total, page.hits.len());
        page.hits.iter().map(|hit| hit.id).collect()
    }

    #[test]
    fn finds_chinese_and_english_only_where_the_asker_may_read() {
        let dir = tempfile::tempdir().unwrap();
        let index = corpus(dir.path());
        assert_eq!(ids(&index, "报告", &[10]), [1]);
        assert_eq!(
            ids(&index, "报告", &[10, 20]),
            [3, 1],
            "newer first among equals"
        );
        assert_eq!(ids(&index, "调研", &[10, 20]), [1]);
        let mut stemmed = ids(&index, "reports", &[10]);
        stemmed.sort_unstable();
        assert_eq!(stemmed, [2, 4], "report, reporting");
        assert_eq!(ids(&index, "\"quarterly report\"", &[10]), [2]);
        assert_eq!(
            ids(&index, "\"report quarterly\"", &[10]),
            Vec::<i64>::new()
        );
        assert_eq!(ids(&index, "review -lunch", &[10]), [2]);
        assert_eq!(ids(&index, "contract has:file", &[10]), [5]);
        assert_eq!(
            ids(&index, "报告", &[]),
            Vec::<i64>::new(),
            "no places, no results"
        );
        assert_eq!(ids(&index, "!!!", &[10]), Vec::<i64>::new());
    }

    #[test]
    fn snippets_mark_the_matching_words() {
        let dir = tempfile::tempdir().unwrap();
        let index = corpus(dir.path());
        let page = index
            .search(&Request {
                clauses: parse("审阅").unwrap().clauses,
                channels: vec![10],
                limit: 5,
                now_ms: NOW,
                ..Request::default()
            })
            .unwrap();
        let hits: Vec<&str> = page.hits[0]
            .snippet
            .iter()
            .filter(|s| s.hit)
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(hits, ["审阅"]);
        let whole: String = page.hits[0]
            .snippet
            .iter()
            .map(|s| s.text.as_str())
            .collect();
        assert!(whole.contains("请大家审阅"), "{whole}");
    }

    #[test]
    fn snippet_ranges_that_overlap_or_overrun_are_merged_and_clamped() {
        let text = "预算报告 合同供应商";
        let cut = segments(text, &[0..12, 6..12, 13..40, 2..5]);
        let whole: String = cut.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(whole, text);
        let hits: Vec<&str> = cut
            .iter()
            .filter(|s| s.hit)
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(hits, ["预算报告", "合同供应商"]);
        // Words side by side are one mark.
        let touching = segments("交货期限为三十天", &[0..6, 6..12]);
        assert_eq!(
            touching,
            [
                Segment {
                    text: "交货期限".into(),
                    hit: true
                },
                Segment {
                    text: "为三十天".into(),
                    hit: false
                }
            ]
        );
    }

    #[test]
    fn long_texts_with_words_inside_words_give_whole_snippets() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = SearchIndex::open(dir.path()).unwrap();
        let text = "预算调研供应商 deploy update budget 报告 合同供应商 报告供应商 ".repeat(12);
        index.put(&message(1, 10, 100, 1, &text)).unwrap();
        index.commit(&Position::default()).unwrap();
        for q in ["报告", "供应商", "预算 供应商", "budget"] {
            let page = index
                .search(&Request {
                    clauses: parse(q).unwrap().clauses,
                    channels: vec![10],
                    limit: 5,
                    now_ms: NOW,
                    ..Request::default()
                })
                .unwrap();
            assert_eq!(page.total, 1, "{q}");
            let whole: String = page.hits[0]
                .snippet
                .iter()
                .map(|s| s.text.as_str())
                .collect();
            assert!(text.contains(&whole), "{q}: {whole}");
            assert!(page.hits[0].snippet.iter().any(|s| s.hit), "{q}");
        }
    }

    #[test]
    fn replacing_and_removing_by_key_and_the_position_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = corpus(dir.path());
            index
                .put(&message(2, 10, 101, 1, "edited: nothing here"))
                .unwrap();
            index.remove(Kind::Message, 3);
            let mut position = at(&[(10, 9), (20, 2)]);
            position.feed_at = 1_800_000_000_123;
            index.commit(&position).unwrap();
            assert_eq!(ids(&index, "quarterly", &[10]), Vec::<i64>::new());
            assert_eq!(ids(&index, "edited", &[10]), [2]);
            assert_eq!(index.len().unwrap(), 4);
        }
        let (index, opened) = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(opened, Opened::Existing);
        let mut position = at(&[(10, 9), (20, 2)]);
        position.feed_at = 1_800_000_000_123;
        assert_eq!(index.position().unwrap(), position);
        assert_eq!(index.len().unwrap(), 4);
    }

    #[test]
    fn a_damaged_index_is_emptied_and_a_second_writer_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = corpus(dir.path());
            assert!(matches!(
                SearchIndex::open(dir.path()),
                Err(SearchError::InUse(_))
            ));
            drop(index);
        }
        std::fs::write(dir.path().join("meta.json"), b"{ not json").unwrap();
        let (index, opened) = SearchIndex::open(dir.path()).unwrap();
        assert!(matches!(opened, Opened::Rebuilt(_)), "{opened:?}");
        assert!(index.is_empty().unwrap());
        assert_eq!(index.position().unwrap(), Position::default());
    }
}
