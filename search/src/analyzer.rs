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

/// The analyzer for documents and queries.
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(Segmenter {
        jieba: jieba().clone(),
    })
    .filter(RemoveLongFilter::limit(LONGEST_WORD))
    .filter(LowerCaser)
    .filter(Stemmer::new(Language::English))
    .build()
}

/// The words of `text` as the index holds them, in order.
pub fn words(text: &str) -> Vec<String> {
    let mut analyzer = analyzer();
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
}

struct Segments {
    tokens: Vec<Token>,
    at: usize,
}

impl Tokenizer for Segmenter {
    type TokenStream<'a> = Segments;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Segments {
        let mut tokens: Vec<Token> = Vec::new();
        for word in self.jieba.tokenize(text, TokenizeMode::Default, true) {
            // jieba keeps "contract.pdf" or "a_b-c" whole: each run of letters and digits is
            // a word of its own, so a file name or an address is found by its parts.
            let mut start = None;
            for (at, c) in word.word.char_indices().chain([(word.word.len(), ' ')]) {
                match (c.is_alphanumeric(), start) {
                    (true, None) => start = Some(at),
                    (false, Some(from)) => {
                        tokens.push(Token {
                            offset_from: word.byte_start + from,
                            offset_to: word.byte_start + at,
                            position: tokens.len(),
                            text: word.word[from..at].to_string(),
                            position_length: 1,
                        });
                        start = None;
                    }
                    _ => {}
                }
            }
        }
        Segments { tokens, at: 0 }
    }
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
