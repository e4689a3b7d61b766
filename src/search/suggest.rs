//! Suggest: prefix completion over product titles, brands and categories.
//!
//! Built from the table on commit (in memory): every suggestion gets a rank
//! (by popularity: units sold, summed over a brand's or a category's
//! products; then by product count, then text), and every word of its text
//! a posting list of suggestion ranks in ascending order. A query's last word
//! is a prefix: the words it starts are a contiguous range of the sorted
//! vocabulary, and the best ranks are gathered from their posting lists,
//! stopping early once a list cannot beat the ten found. Earlier words of the
//! query must be words of the suggestion. From four letters on, one typo is
//! forgiven: words whose beginning is within edit distance 1 of the prefix
//! (a Levenshtein prefix automaton over an fst of the vocabulary) fill the
//! places exact completions left.

use super::analysis::{spell_analyzer, spell_words, words};
use super::Entry;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tantivy::query::FuzzyTermQuery;
use tantivy::schema::Field;
use tantivy::Term;
use tantivy_fst::{IntoStreamer, Map, Streamer};

/// Most suggestions returned.
pub const SUGGESTIONS_MAX: usize = 10;
/// Prefix length (letters) from which one typo is forgiven.
pub const FUZZY_PREFIX_CHARS_MIN: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    Brand,
    Category,
    Product,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub text: String,
    pub kind: SuggestionKind,
}

struct Item {
    suggestion: Suggestion,
    /// The item's words, sorted (to check a query's earlier words).
    words: Vec<String>,
}

/// The in-memory completion structure.
pub struct Suggester {
    /// Best first: an item's index is its rank.
    items: Vec<Item>,
    /// Sorted vocabulary and, per word, the ranks of the items using it.
    vocabulary: Vec<(String, Vec<u32>)>,
    /// The vocabulary as an fst (word -> index), for fuzzy prefixes.
    fst: Option<Map<Vec<u8>>>,
}

#[derive(Default)]
struct Tally {
    units: u64,
    products: u64,
}

impl Suggester {
    pub fn build(table: &[Option<Arc<Entry>>]) -> Suggester {
        let mut candidates: HashMap<(SuggestionKind, String), (String, Tally)> = HashMap::new();
        let mut add = |kind: SuggestionKind, text: &str, units: u64| {
            let slot =
                candidates.entry((kind, text.to_lowercase())).or_insert_with(|| (text.to_owned(), Tally::default()));
            slot.1.units = slot.1.units.saturating_add(units);
            slot.1.products += 1;
        };
        for entry in table.iter().flatten() {
            add(SuggestionKind::Product, &entry.title, entry.units_sold);
            if let Some(brand) = &entry.brand {
                add(SuggestionKind::Brand, brand, entry.units_sold);
            }
            for level in &entry.category {
                add(SuggestionKind::Category, level, entry.units_sold);
            }
        }
        let mut ranked: Vec<(SuggestionKind, String, Tally)> =
            candidates.into_iter().map(|((kind, _), (text, tally))| (kind, text, tally)).collect();
        ranked.sort_by(|a, b| {
            b.2.units.cmp(&a.2.units).then(b.2.products.cmp(&a.2.products)).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1))
        });
        let mut analyzer = spell_analyzer();
        let mut postings: HashMap<String, Vec<u32>> = HashMap::new();
        let mut items = Vec::with_capacity(ranked.len());
        for (rank, (kind, text, _)) in ranked.into_iter().enumerate() {
            let rank = u32::try_from(rank).unwrap_or(u32::MAX);
            let mut item_words: Vec<String> = words(&mut analyzer, &text).into_iter().map(|word| word.text).collect();
            item_words.sort();
            item_words.dedup();
            for word in &item_words {
                postings.entry(word.clone()).or_default().push(rank);
            }
            items.push(Item { suggestion: Suggestion { text, kind }, words: item_words });
        }
        let mut vocabulary: Vec<(String, Vec<u32>)> = postings.into_iter().collect();
        vocabulary.sort_by(|a, b| a.0.cmp(&b.0));
        let fst =
            Map::from_iter(vocabulary.iter().enumerate().map(|(index, (word, _))| (word.as_bytes(), index as u64)))
                .map_err(|err| tracing::warn!(error = %err, "cannot build the suggest fst"))
                .ok();
        Suggester { items, vocabulary, fst }
    }

    /// At most `limit` (capped at [`SUGGESTIONS_MAX`]) completions of `query`.
    pub fn suggest(&self, query: &str, limit: usize) -> Vec<Suggestion> {
        let limit = limit.min(SUGGESTIONS_MAX);
        let query_words: Vec<String> = spell_words(query).into_iter().map(|word| word.text).collect();
        let Some((prefix, earlier)) = query_words.split_last() else { return Vec::new() };
        let mut found: BTreeSet<u32> = BTreeSet::new();
        let start = self.vocabulary.partition_point(|(word, _)| word.as_str() < prefix.as_str());
        let exact: Vec<usize> =
            (start..self.vocabulary.len()).take_while(|&index| self.vocabulary[index].0.starts_with(prefix)).collect();
        self.gather(&exact, &|word: &str| word.starts_with(prefix.as_str()), earlier, limit, &mut found);
        let mut ranks: Vec<u32> = found.iter().copied().collect();
        if ranks.len() < limit && prefix.chars().count() >= FUZZY_PREFIX_CHARS_MIN {
            let fuzzy: Vec<usize> = self
                .fuzzy_words(prefix)
                .into_iter()
                .filter(|&index| !self.vocabulary[index].0.starts_with(prefix))
                .collect();
            let fuzzy_words: HashSet<&str> = fuzzy.iter().map(|&index| self.vocabulary[index].0.as_str()).collect();
            let mut more = BTreeSet::new();
            self.gather(&fuzzy, &|word: &str| fuzzy_words.contains(word), earlier, limit, &mut more);
            ranks.extend(more.into_iter().filter(|rank| !found.contains(rank)));
        }
        let mut seen = BTreeSet::new();
        ranks
            .into_iter()
            .filter_map(|rank| self.items.get(rank as usize))
            .filter(|item| seen.insert(item.suggestion.text.to_lowercase()))
            .take(limit)
            .map(|item| item.suggestion.clone())
            .collect()
    }

    /// The best `limit` ranks of items that have one of the words
    /// `word_indexes` (each of which `is_word` accepts) and every `earlier`
    /// word. Walks the posting lists of those words, or, when it is shorter
    /// than all of them together, the list of the rarest earlier word.
    fn gather(
        &self,
        word_indexes: &[usize],
        is_word: &dyn Fn(&str) -> bool,
        earlier: &[String],
        limit: usize,
        found: &mut BTreeSet<u32>,
    ) {
        let mut rarest: Option<&[u32]> = None;
        for word in earlier {
            let Some(ranks) = self.postings(word) else { return };
            if rarest.is_none_or(|current| ranks.len() < current.len()) {
                rarest = Some(ranks);
            }
        }
        let walked: usize = word_indexes.iter().map(|&index| self.vocabulary[index].1.len()).sum();
        if let Some(ranks) = rarest.filter(|ranks| ranks.len() < walked) {
            // Ascending ranks: the first `limit` that qualify are the best.
            for &rank in ranks {
                let Some(item) = self.items.get(rank as usize) else { continue };
                if item.words.iter().any(|word| is_word(word))
                    && earlier.iter().all(|word| item.words.binary_search(word).is_ok())
                {
                    found.insert(rank);
                    if found.len() >= limit {
                        return;
                    }
                }
            }
            return;
        }
        for &index in word_indexes {
            for &rank in &self.vocabulary[index].1 {
                if found.len() >= limit && found.last().is_some_and(|&worst| rank > worst) {
                    break;
                }
                let Some(item) = self.items.get(rank as usize) else { continue };
                if earlier.iter().all(|word| item.words.binary_search(word).is_ok())
                    && found.insert(rank)
                    && found.len() > limit
                {
                    found.pop_last();
                }
            }
        }
    }

    /// The ranks of the items using `word`, ascending.
    fn postings(&self, word: &str) -> Option<&[u32]> {
        let index = self.vocabulary.binary_search_by(|(known, _)| known.as_str().cmp(word)).ok()?;
        Some(&self.vocabulary[index].1)
    }

    /// Vocabulary words that start within edit distance 1 of `prefix`.
    fn fuzzy_words(&self, prefix: &str) -> Vec<usize> {
        let Some(fst) = &self.fst else { return Vec::new() };
        let term = Term::from_field_text(Field::from_field_id(0), prefix);
        let Ok(automaton) = FuzzyTermQuery::new_prefix(term, 1, true).automaton() else { return Vec::new() };
        let mut stream = fst.search(automaton).into_stream();
        let mut indexes = Vec::new();
        while let Some((_, index)) = stream.next() {
            indexes.push(index as usize);
        }
        indexes
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// The best `limit` items (rank order) with every earlier word and a word starting with the prefix.
    fn brute_force(suggester: &Suggester, earlier: &[&str], prefix: &str, limit: usize) -> Vec<String> {
        let mut seen = BTreeSet::new();
        suggester
            .items
            .iter()
            .filter(|item| {
                earlier.iter().all(|word| item.words.iter().any(|known| known == word))
                    && item.words.iter().any(|word| word.starts_with(prefix))
            })
            .filter(|item| seen.insert(item.suggestion.text.to_lowercase()))
            .take(limit)
            .map(|item| item.suggestion.text.clone())
            .collect()
    }

    #[test]
    fn completions_after_earlier_words_are_the_best_ranked_whichever_list_is_walked() {
        let mut rng = StdRng::seed_from_u64(5);
        let table: Vec<Option<Arc<Entry>>> = (0..3_000)
            .map(|n| {
                let mut entry = Entry::from_product(&crate::generate::product(&mut rng, n));
                entry.units_sold = (n % 17) as u64;
                Some(Arc::new(entry))
            })
            .collect();
        let suggester = Suggester::build(&table);
        // A rare earlier word (a brand) with a common prefix, a common earlier
        // word with a rare prefix, two earlier words, and an unknown one.
        let cases: &[(&[&str], &str)] = &[
            (&["sony"], "b"),
            (&["sony"], "wir"),
            (&["black"], "hea"),
            (&["white", "portable"], "s"),
            (&["zzzz"], "s"),
        ];
        for &(earlier, prefix) in cases {
            let query = format!("{} {prefix}", earlier.join(" "));
            let got: Vec<String> = suggester.suggest(&query, 10).into_iter().map(|s| s.text).collect();
            let expected = brute_force(&suggester, earlier, prefix, 10);
            assert_eq!(got, expected, "{query:?}");
        }
        assert!(!suggester.suggest("sony b", 10).is_empty());
    }
}
