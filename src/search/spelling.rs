//! "Did you mean": spelling correction against the index's own dictionary.
//!
//! The spelling field holds the unstemmed words of titles, brands, category
//! names and attributes. A query word is checked when it has at least three
//! letters and no digit (numbers and model codes are never corrected):
//!
//! - it is kept when its document frequency is above [`RARE_DF_MAX`];
//! - otherwise the dictionary is searched with a Levenshtein automaton
//!   (tantivy's `FuzzyTermQuery` automaton, transpositions cost one) of
//!   distance 1 for words of up to five letters and 2 for longer ones; the
//!   candidate with the smallest distance wins, then the highest document
//!   frequency, then the smaller word;
//! - an unknown word (frequency 0) is replaced by the winner; a rare word
//!   (frequency 1..=[`RARE_DF_MAX`]) only when the winner is at least
//!   [`RARE_RATIO_MIN`] times more frequent, and then the original word is
//!   still searched too.
//!
//! The corrected query is the original text with the corrected words
//! replaced in place.

use super::analysis::spell_words;
use super::SearchError;
use parking_lot::Mutex;
use std::collections::HashMap;
use tantivy::query::FuzzyTermQuery;
use tantivy::schema::Field;
use tantivy::{Searcher, Term};

/// Words found in at most this many documents are "rare".
pub const RARE_DF_MAX: u64 = 2;
/// A rare word is corrected only to a word this many times more frequent.
pub const RARE_RATIO_MIN: u64 = 50;
/// Shortest word that is checked.
const CHECKED_CHARS_MIN: usize = 3;
/// Longest word searched with distance 1 (longer: distance 2).
const DISTANCE_ONE_CHARS_MAX: usize = 5;
/// Words whose best candidate is remembered per snapshot.
const CACHE_WORDS_MAX: usize = 20_000;

/// Best candidates already looked up in one snapshot's dictionary (the
/// dictionary does not change within a snapshot; a new snapshot starts with
/// an empty cache). Bounded: cleared when full.
#[derive(Default)]
pub struct CandidateCache {
    best: Mutex<HashMap<String, Option<(String, u64)>>>,
}

impl CandidateCache {
    fn get_or_find(
        &self,
        word: &str,
        find: impl FnOnce() -> Result<Option<(String, u64)>, SearchError>,
    ) -> Result<Option<(String, u64)>, SearchError> {
        if let Some(found) = self.best.lock().get(word) {
            return Ok(found.clone());
        }
        let found = find()?;
        let mut best = self.best.lock();
        if best.len() >= CACHE_WORDS_MAX {
            best.clear();
        }
        best.insert(word.to_owned(), found.clone());
        Ok(found)
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// The query with its misspelled words replaced.
    pub text: String,
    /// Rare original words that are searched besides their correction.
    pub kept: Vec<String>,
}

/// Checks every word of `query`; `None` when nothing needed correcting.
pub fn correct(
    searcher: &Searcher,
    field: Field,
    query: &str,
    cache: &CandidateCache,
) -> Result<Option<Correction>, SearchError> {
    let mut text = String::with_capacity(query.len());
    let mut kept = Vec::new();
    let mut copied = 0usize;
    let mut changed = false;
    for word in spell_words(query) {
        let length = word.text.chars().count();
        if length < CHECKED_CHARS_MIN || word.text.chars().any(|c| c.is_numeric()) {
            continue;
        }
        let frequency = searcher.doc_freq(&Term::from_field_text(field, &word.text))?;
        if frequency > RARE_DF_MAX {
            continue;
        }
        let distance = if length <= DISTANCE_ONE_CHARS_MAX { 1 } else { 2 };
        let found = cache.get_or_find(&word.text, || best_candidate(searcher, field, &word.text, distance))?;
        let Some((best, best_frequency)) = found else { continue };
        if frequency > 0 {
            if best_frequency < frequency.saturating_mul(RARE_RATIO_MIN) {
                continue;
            }
            kept.push(word.text.clone());
        }
        if word.from < copied || word.to > query.len() {
            continue;
        }
        text.push_str(&query[copied..word.from]);
        text.push_str(&best);
        copied = word.to;
        changed = true;
    }
    if !changed {
        return Ok(None);
    }
    text.push_str(&query[copied..]);
    Ok(Some(Correction { text, kept }))
}

/// The best dictionary word within `distance` of `word` (itself excluded).
fn best_candidate(
    searcher: &Searcher,
    field: Field,
    word: &str,
    distance: u8,
) -> Result<Option<(String, u64)>, SearchError> {
    let mut frequencies: HashMap<String, u64> = HashMap::new();
    let automaton = FuzzyTermQuery::new(Term::from_field_text(field, word), distance, true).automaton()?;
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field)?;
        let mut stream = inverted.terms().search(&automaton).into_stream()?;
        while stream.advance() {
            let Ok(candidate) = std::str::from_utf8(stream.key()) else { continue };
            if candidate == word {
                continue;
            }
            *frequencies.entry(candidate.to_owned()).or_default() += u64::from(stream.value().doc_freq);
        }
    }
    let best = frequencies
        .into_iter()
        .map(|(candidate, frequency)| (edit_distance(word, &candidate), frequency, candidate))
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    Ok(best.map(|(_, frequency, candidate)| (candidate, frequency)))
}

/// Optimal-string-alignment distance (Levenshtein with adjacent
/// transpositions), as the automaton counts it.
pub fn edit_distance(left: &str, right: &str) -> usize {
    let a: Vec<char> = left.chars().collect();
    let b: Vec<char> = right.chars().collect();
    let width = b.len() + 1;
    let mut table = vec![0usize; (a.len() + 1) * width];
    for (i, cell) in table.iter_mut().step_by(width).enumerate() {
        *cell = i;
    }
    for (j, cell) in table.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[(i - 1) * width + j] + 1)
                .min(table[i * width + j - 1] + 1)
                .min(table[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[(i - 2) * width + j - 2] + 1);
            }
            table[i * width + j] = best;
        }
    }
    table[a.len() * width + b.len()]
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn transpositions_cost_one() {
        assert_eq!(edit_distance("hedphones", "headphones"), 1);
        assert_eq!(edit_distance("bluetoth", "bluetooth"), 1);
        assert_eq!(edit_distance("speakre", "speaker"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
