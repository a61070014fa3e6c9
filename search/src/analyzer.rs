//! How text becomes words: Chinese is segmented by jieba (its default dictionary and HMM for
//! words the dictionary lacks), then every word is lower-cased and English words are stemmed
//! ("reports" and "reporting" find "report"). Spaces and punctuation are not words. The same
//! analyzer reads documents and queries, so both split a sentence the same way.

use std::sync::{Arc, OnceLock};

use jieba_rs::{Jieba, TokenizeMode};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer,
};

/// The name the index knows the analyzer by.
pub const ANALYZER: &str = "parley";

/// Words longer than this (in bytes) are not indexed: they are noise (a pasted hash, base64).
const LONGEST_WORD: usize = 64;

/// The one segmenter of the process: its dictionary takes a moment and some memory to load.
fn jieba() -> &'static Arc<Jieba> {
    static JIEBA: OnceLock<Arc<Jieba>> = OnceLock::new();
    JIEBA.get_or_init(|| Arc::new(Jieba::new()))
}

/// The analyzer for documents: each word, and where a Chinese word is longer than two
/// characters, the dictionary's shorter words inside it at the same position (预算报告 is
/// found by 报告, 中华人民共和国 by 人民), as jieba's search mode finds them.
pub fn analyzer() -> TextAnalyzer {
    build(true)
}

/// The analyzer for queries: each word once, as the segmenter reads the sentence.
fn query_analyzer() -> TextAnalyzer {
    build(false)
}

fn build(inner_words: bool) -> TextAnalyzer {
    TextAnalyzer::builder(Segmenter {
        jieba: jieba().clone(),
        inner_words,
    })
    .filter(RemoveLongFilter::limit(LONGEST_WORD))
    .filter(LowerCaser)
    .filter(Stemmer::new(Language::English))
    .build()
}

/// The words of `text` as a query looks for them, in order.
pub fn words(text: &str) -> Vec<String> {
    let mut analyzer = query_analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut words = Vec::new();
    while let Some(token) = stream.next() {
        words.push(token.text.clone());
    }
    words
}

/// jieba as a tantivy tokenizer.
#[derive(Clone)]
struct Segmenter {
    jieba: Arc<Jieba>,
    /// Also the dictionary's words inside longer ones.
    inner_words: bool,
}

struct Segments {
    tokens: Vec<Token>,
    at: usize,
}

impl Tokenizer for Segmenter {
    type TokenStream<'a> = Segments;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Segments {
        let mut tokens: Vec<Token> = Vec::new();
        let mut position = 0;
        for word in self.jieba.tokenize(text, TokenizeMode::Default, true) {
            // jieba keeps "contract.pdf" or "a_b-c" whole: each run of letters and digits is
            // a word of its own, so a file name or an address is found by its parts.
            let mut start = None;
            for (at, c) in word.word.char_indices().chain([(word.word.len(), ' ')]) {
                match (c.is_alphanumeric(), start) {
                    (true, None) => start = Some(at),
                    (false, Some(from)) => {
                        let part = &word.word[from..at];
                        let offset = word.byte_start + from;
                        tokens.push(Token {
                            offset_from: offset,
                            offset_to: offset + part.len(),
                            position,
                            text: part.to_string(),
                            position_length: 1,
                        });
                        if self.inner_words {
                            self.inner(part, offset, position, &mut tokens);
                        }
                        position += 1;
                        start = None;
                    }
                    _ => {}
                }
            }
        }
        Segments { tokens, at: 0 }
    }
}

impl Segmenter {
    /// The dictionary's two- and three-character words inside `word` (when it is longer),
    /// each at the position of `word`.
    fn inner(&self, word: &str, offset: usize, position: usize, tokens: &mut Vec<Token>) {
        let chars: Vec<(usize, char)> = word.char_indices().collect();
        if chars.len() < 3 || !chars.iter().all(|(_, c)| is_cjk(*c)) {
            return;
        }
        for size in [2, 3] {
            for start in 0..chars.len().saturating_sub(size - 1) {
                if size == chars.len() {
                    continue;
                }
                let from = chars[start].0;
                let to = chars.get(start + size).map_or(word.len(), |(at, _)| *at);
                let inner = &word[from..to];
                if self.jieba.has_word(inner) {
                    tokens.push(Token {
                        offset_from: offset + from,
                        offset_to: offset + to,
                        position,
                        text: inner.to_string(),
                        position_length: 1,
                    });
                }
            }
        }
    }
}

/// Chinese (and Japanese) characters, the ones written without spaces between words.
fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

impl TokenStream for Segments {
    fn advance(&mut self) -> bool {
        if self.at < self.tokens.len() {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.at - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.at - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_segmented_into_words() {
        let words = words("我们的需求调研报告已经发布");
        assert!(words.contains(&"需求".to_string()), "{words:?}");
        assert!(words.contains(&"报告".to_string()), "{words:?}");
        assert!(words.contains(&"发布".to_string()), "{words:?}");
    }

    #[test]
    fn the_index_also_holds_the_words_inside_longer_ones() {
        let mut analyzer = analyzer();
        let mut stream = analyzer.token_stream("中华人民共和国成立");
        let mut tokens = Vec::new();
        while let Some(token) = stream.next() {
            tokens.push((token.text.clone(), token.position));
        }
        let at = |word: &str| tokens.iter().find(|(t, _)| t == word).map(|(_, p)| *p);
        assert_eq!(at("中华人民共和国"), Some(0), "{tokens:?}");
        assert_eq!(at("人民"), Some(0), "{tokens:?}");
        assert_eq!(at("共和国"), Some(0), "{tokens:?}");
        assert_eq!(at("成立"), Some(1), "{tokens:?}");
        assert_eq!(words("中华人民共和国成立"), ["中华人民共和国", "成立"]);
    }

    #[test]
    fn english_is_lower_cased_and_stemmed() {
        assert_eq!(words("Reporting the REPORTS"), ["report", "the", "report"]);
    }

    #[test]
    fn mixed_text_keeps_both_and_drops_punctuation() {
        let words = words("Q3 销售报告, please review!");
        assert_eq!(words, ["q3", "销售", "报告", "pleas", "review"]);
    }

    #[test]
    fn names_and_addresses_are_found_by_their_parts() {
        assert_eq!(
            words("合同contract_v2.pdf"),
            ["合同", "contract", "v2", "pdf"]
        );
    }
}
