//! Analyse N distinct message bodies with the three indexed fields'
//! analyzers (`body`, `body_word`, `body_join`), one after the other as
//! tantivy's indexing thread does, and print the bytes of the tokens.
//!
//! For counting the analysis' instructions, which stay the same from run to
//! run whatever else the machine is doing (BENCHMARKS.md, issue 20):
//!
//! ```text
//! cargo build --release -p search --example analyze_fields
//! valgrind --tool=callgrind target/release/examples/analyze_fields 20000
//! ```

use search::analyzer::{bigram_analyzer, join_analyzer, word_analyzer};
use tantivy::tokenizer::TokenStream;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut fields = [bigram_analyzer(), word_analyzer(), join_analyzer()];
    let mut bytes = 0usize;
    for i in 0..n {
        // The body `bench append` and `bench e2e` post, each one distinct.
        let text = format!(
            "e2e 1 {} 메시지 {i}: 오늘 회의는 3시에 시작합니다. see you at the meeting",
            i * 137
        );
        for analyzer in &mut fields {
            let mut tokens = analyzer.token_stream(&text);
            while tokens.advance() {
                bytes += tokens.token().text.len();
            }
        }
    }
    println!("{bytes}");
}
