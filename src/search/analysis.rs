//! Text analysis for product search, shared by indexing and querying.
//!
//! [`ProductTokenizer`] turns product text into tokens that match the way
//! shoppers type:
//!
//! - runs of letters and digits, split where letters meet digits, so `2x4`,
//!   `2 x 4` and `2-x-4` give the same tokens (`2`, `x`, `4`) and `12v` gives
//!   `12`, `v`;
//! - lowercased, with a double quote right after a number read as inches and
//!   a single quote as feet (`1/2"` gives `1`, `2`, `in`);
//! - English units written out or abbreviated are one token (`inches`,
//!   `inch`, `in.` are `in`; `pounds`, `lbs` are `lb`; ...): general
//!   measurement vocabulary, not tuned to any catalog;
//! - a short list of English function words is dropped (`the`, `for`,
//!   `with`, ...); `in` is kept because in a product title it is usually the
//!   inch.
//!
//! The indexed analyzer ([`MAIN_ANALYZER`]) then folds accents and applies
//! the English (Snowball) stemmer; the spelling analyzer ([`SPELL_ANALYZER`])
//! stops before stemming, so its dictionary holds words a shopper can read.

use tantivy::tokenizer::{AsciiFoldingFilter, Language, Stemmer, TextAnalyzer, Token, TokenStream, Tokenizer};

/// Name of the stemmed analyzer used by the text fields.
pub const MAIN_ANALYZER: &str = "mercato_en";
/// Name of the unstemmed analyzer of the spelling field.
pub const SPELL_ANALYZER: &str = "mercato_spell";
/// Longer tokens are noise (URLs, part numbers run together) and are dropped.
const TOKEN_CHARS_MAX: usize = 40;

/// Function words that carry no product meaning.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "is", "it", "of", "on", "or", "the", "to", "with",
];

/// Measurement units and their canonical token.
const UNITS: &[(&str, &str)] = &[
    ("inch", "in"),
    ("inches", "in"),
    ("foot", "ft"),
    ("feet", "ft"),
    ("pound", "lb"),
    ("pounds", "lb"),
    ("lbs", "lb"),
    ("ounce", "oz"),
    ("ounces", "oz"),
    ("gallon", "gal"),
    ("gallons", "gal"),
    ("quart", "qt"),
    ("quarts", "qt"),
    ("yard", "yd"),
    ("yards", "yd"),
    ("volt", "v"),
    ("volts", "v"),
    ("watt", "w"),
    ("watts", "w"),
    ("amp", "a"),
    ("amps", "a"),
    ("ampere", "a"),
    ("amperes", "a"),
    ("millimeter", "mm"),
    ("millimeters", "mm"),
    ("centimeter", "cm"),
    ("centimeters", "cm"),
    ("meter", "m"),
    ("meters", "m"),
    ("liter", "l"),
    ("liters", "l"),
    ("litre", "l"),
    ("litres", "l"),
    ("square", "sq"),
    ("cubic", "cu"),
];

fn canonical_unit(word: &str) -> Option<&'static str> {
    UNITS.iter().find(|(long, _)| *long == word).map(|(_, short)| *short)
}

/// Whether `word` (lowercase) is one of the dropped function words.
pub fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
}

fn class_of(c: char) -> Option<Class> {
    if c.is_numeric() {
        Some(Class::Digit)
    } else if c.is_alphanumeric() {
        Some(Class::Letter)
    } else {
        None
    }
}

/// Splits product text into normalized tokens (see the module docs).
#[derive(Clone, Default)]
pub struct ProductTokenizer {
    tokens: Vec<Token>,
}

/// The tokens of one text, produced eagerly. The vector always ends with a
/// sentinel token, so `token()` is valid even before the first `advance()`.
pub struct VecTokenStream<'a> {
    tokens: &'a mut Vec<Token>,
    next: usize,
}

impl VecTokenStream<'_> {
    fn index(&self) -> usize {
        self.next.saturating_sub(1).min(self.tokens.len().saturating_sub(1))
    }
}

impl TokenStream for VecTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next + 1 < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        &self.tokens[self.index()]
    }

    fn token_mut(&mut self) -> &mut Token {
        let index = self.index();
        &mut self.tokens[index]
    }
}

impl Tokenizer for ProductTokenizer {
    type TokenStream<'a> = VecTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream<'a> {
        self.tokens.clear();
        split(text, &mut self.tokens);
        self.tokens.push(Token::default());
        VecTokenStream { tokens: &mut self.tokens, next: 0 }
    }
}

/// One raw run of letters or digits, before normalization.
struct Run {
    from: usize,
    to: usize,
    class: Class,
}

fn runs(text: &str) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    let mut current: Option<Run> = None;
    for (offset, c) in text.char_indices() {
        let class = class_of(c);
        match (&mut current, class) {
            (Some(run), Some(class)) if run.class == class => run.to = offset + c.len_utf8(),
            (_, Some(class)) => {
                if let Some(run) = current.take() {
                    runs.push(run);
                }
                current = Some(Run { from: offset, to: offset + c.len_utf8(), class });
            }
            (_, None) => {
                if let Some(run) = current.take() {
                    runs.push(run);
                }
            }
        }
    }
    if let Some(run) = current {
        runs.push(run);
    }
    runs
}

fn split(text: &str, out: &mut Vec<Token>) {
    let mut position = 0usize;
    let mut push = |out: &mut Vec<Token>, from: usize, to: usize, word: String| {
        out.push(Token { offset_from: from, offset_to: to, position, text: word, position_length: 1 });
        position += 1;
    };
    for run in runs(text) {
        let raw = &text[run.from..run.to];
        if raw.chars().count() > TOKEN_CHARS_MAX {
            continue;
        }
        let lower = raw.to_lowercase();
        if run.class == Class::Digit {
            push(out, run.from, run.to, lower);
            // A quote mark right after a number is a unit: 1/2" or 6'.
            match text[run.to..].chars().next() {
                Some('"') | Some('\u{201d}') => push(out, run.to, run.to + 1, "in".to_owned()),
                Some('\'') | Some('\u{2019}') => push(out, run.to, run.to + 1, "ft".to_owned()),
                _ => {}
            }
            continue;
        }
        if is_stop_word(&lower) {
            continue;
        }
        let word = canonical_unit(&lower).map(str::to_owned).unwrap_or(lower);
        push(out, run.from, run.to, word);
    }
}

/// The stemmed analyzer of the text fields.
pub fn main_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(ProductTokenizer::default())
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The unstemmed analyzer of the spelling field.
pub fn spell_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(ProductTokenizer::default()).filter(AsciiFoldingFilter).build()
}

thread_local! {
    static MAIN: std::cell::RefCell<TextAnalyzer> = std::cell::RefCell::new(main_analyzer());
    static SPELL: std::cell::RefCell<TextAnalyzer> = std::cell::RefCell::new(spell_analyzer());
}

fn with_cached(
    cache: &'static std::thread::LocalKey<std::cell::RefCell<TextAnalyzer>>,
    fresh: fn() -> TextAnalyzer,
    text: &str,
) -> Vec<Word> {
    cache.with(|cell| match cell.try_borrow_mut() {
        Ok(mut analyzer) => words(&mut analyzer, text),
        Err(_) => words(&mut fresh(), text),
    })
}

/// `text` through the stemmed analyzer (one analyzer per thread, reused).
pub fn main_words(text: &str) -> Vec<Word> {
    with_cached(&MAIN, main_analyzer, text)
}

/// `text` through the spelling analyzer (one analyzer per thread, reused).
pub fn spell_words(text: &str) -> Vec<Word> {
    with_cached(&SPELL, spell_analyzer, text)
}

/// A token of analyzed text with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Byte range in the analyzed text.
    pub from: usize,
    pub to: usize,
    pub position: usize,
}

/// Runs `analyzer` over `text`.
pub fn words(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Word> {
    let mut stream = analyzer.token_stream(text);
    let mut words = Vec::new();
    while stream.advance() {
        let token = stream.token();
        words.push(Word {
            text: token.text.clone(),
            from: token.offset_from,
            to: token.offset_to,
            position: token.position,
        });
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
        words(analyzer, text).into_iter().map(|word| word.text).collect()
    }

    #[test]
    fn letters_and_digits_split_and_units_are_canonical() {
        let mut spell = spell_analyzer();
        assert_eq!(texts(&mut spell, "2x4 Stud, 8 Feet"), ["2", "x", "4", "stud", "8", "ft"]);
        assert_eq!(texts(&mut spell, "1/2 in. x 10 ft. Pipe"), ["1", "2", "in", "x", "10", "ft", "pipe"]);
        assert_eq!(texts(&mut spell, "1/2\" copper"), ["1", "2", "in", "copper"]);
        assert_eq!(texts(&mut spell, "12V Drill"), ["12", "v", "drill"]);
    }

    #[test]
    fn stop_words_go_and_positions_stay_consecutive() {
        let mut spell = spell_analyzer();
        let found = words(&mut spell, "Case for the iPhone");
        let positions: Vec<usize> = found.iter().map(|word| word.position).collect();
        assert_eq!(found.iter().map(|word| word.text.as_str()).collect::<Vec<_>>(), ["case", "iphone"]);
        assert_eq!(positions, [0, 1]);
    }

    #[test]
    fn the_main_analyzer_stems_and_folds() {
        let mut main = main_analyzer();
        assert_eq!(texts(&mut main, "Wireless Headphones"), ["wireless", "headphon"]);
        assert_eq!(texts(&mut main, "Café Speakers"), ["cafe", "speaker"]);
        assert!(texts(&mut main, "").is_empty());
        assert!(texts(&mut main, "  --  ").is_empty());
    }
}
