//! Byte-pair merging (book ch. 2; Sennrich et al. 2016, as byte-level BPE in GPT-2).
//!
//! A piece starts as one token per byte. Each merge rule `a b` has a rank (its line in
//! the merges list); repeatedly the adjacent pair with the lowest rank is replaced by
//! the token `ab`, leftmost first among equal ranks, until no pair has a rule.
//! A min-heap of candidate pairs over a linked list of symbols keeps this
//! O(n log n) in the piece length, so a long run of characters cannot blow up.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// The merge rules of a vocabulary, keyed by the ids of the pair.
#[derive(Debug, Clone, Default)]
pub struct Merges {
    /// `(left, right)` → `(rank, merged id)`.
    rules: HashMap<(u32, u32), (u32, u32)>,
}

impl Merges {
    /// An empty rule set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the rule `left right → merged` with the next rank; a repeated pair keeps its first rank.
    pub fn push(&mut self, left: u32, right: u32, merged: u32) {
        let rank = self.rules.len() as u32;
        self.rules.entry((left, right)).or_insert((rank, merged));
    }

    /// The number of distinct rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// The rules as `(left, right, merged)` ids, best rank first: pushing them into a new
    /// rule set in this order rebuilds this one.
    pub fn by_rank(&self) -> Vec<(u32, u32, u32)> {
        let mut ranked: Vec<_> = self
            .rules
            .iter()
            .map(|(&(left, right), &(rank, merged))| (rank, left, right, merged))
            .collect();
        ranked.sort_unstable();
        ranked
            .into_iter()
            .map(|(_, left, right, merged)| (left, right, merged))
            .collect()
    }

    /// Merges `ids` (one token per byte of a piece) into the piece's final tokens.
    pub fn apply(&self, ids: &[u32]) -> Vec<u32> {
        let mut symbols: Vec<Symbol> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| Symbol {
                id,
                prev: i.checked_sub(1),
                next: (i + 1 < ids.len()).then_some(i + 1),
                alive: true,
            })
            .collect();
        let mut queue = BinaryHeap::new();
        for i in 0..symbols.len().saturating_sub(1) {
            self.enqueue(&symbols, i, &mut queue);
        }
        while let Some(Reverse(candidate)) = queue.pop() {
            if !candidate.is_current(&symbols) {
                continue;
            }
            let right = symbols[candidate.left]
                .next
                .expect("a current pair has a right symbol");
            symbols[candidate.left].id = candidate.merged;
            symbols[candidate.left].next = symbols[right].next;
            symbols[right].alive = false;
            if let Some(after) = symbols[right].next {
                symbols[after].prev = Some(candidate.left);
                self.enqueue(&symbols, candidate.left, &mut queue);
            }
            if let Some(before) = symbols[candidate.left].prev {
                self.enqueue(&symbols, before, &mut queue);
            }
        }
        symbols.iter().filter(|s| s.alive).map(|s| s.id).collect()
    }

    /// Pushes the pair starting at symbol `left` if a rule merges it.
    fn enqueue(&self, symbols: &[Symbol], left: usize, queue: &mut BinaryHeap<Reverse<Candidate>>) {
        let Some(right) = symbols[left].next else {
            return;
        };
        let pair = (symbols[left].id, symbols[right].id);
        if let Some(&(rank, merged)) = self.rules.get(&pair) {
            queue.push(Reverse(Candidate {
                rank,
                left,
                pair,
                merged,
            }));
        }
    }
}

/// One token of a piece being merged, linked to its live neighbours.
#[derive(Debug)]
struct Symbol {
    id: u32,
    prev: Option<usize>,
    next: Option<usize>,
    alive: bool,
}

/// A pair that a rule could merge; ordered by rank, then position (leftmost first).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    rank: u32,
    left: usize,
    pair: (u32, u32),
    merged: u32,
}

impl Candidate {
    /// Whether the pair is still there (no earlier merge consumed or changed either side).
    fn is_current(&self, symbols: &[Symbol]) -> bool {
        let left = &symbols[self.left];
        left.alive
            && left.id == self.pair.0
            && left
                .next
                .is_some_and(|right| symbols[right].id == self.pair.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids: a=0 b=1 c=2 ab=3 bc=4 abc=5 aa=6 aaa=7.
    fn rules(list: &[(u32, u32, u32)]) -> Merges {
        let mut merges = Merges::new();
        for &(l, r, m) in list {
            merges.push(l, r, m);
        }
        merges
    }

    #[test]
    fn lowest_rank_wins() {
        let merges = rules(&[(1, 2, 4), (0, 1, 3), (3, 2, 5)]);
        assert_eq!(merges.apply(&[0, 1, 2]), [0, 4]);
        let merges = rules(&[(0, 1, 3), (1, 2, 4), (3, 2, 5)]);
        assert_eq!(merges.apply(&[0, 1, 2]), [5]);
    }

    #[test]
    fn equal_ranks_merge_leftmost_first() {
        let merges = rules(&[(0, 0, 6), (6, 0, 7)]);
        assert_eq!(merges.apply(&[0, 0, 0]), [7]);
        assert_eq!(merges.apply(&[0, 0, 0, 0]), [6, 6]);
        assert_eq!(merges.apply(&[0, 0, 0, 0, 0]), [6, 7]);
    }

    #[test]
    fn by_rank_lists_distinct_rules_in_rank_order() {
        let merges = rules(&[(1, 2, 4), (0, 1, 3), (1, 2, 9), (3, 2, 5)]);
        assert_eq!(merges.by_rank(), [(1, 2, 4), (0, 1, 3), (3, 2, 5)]);
    }

    #[test]
    fn no_rules_keeps_bytes() {
        assert_eq!(Merges::new().apply(&[2, 1, 0]), [2, 1, 0]);
        assert!(Merges::new().apply(&[]).is_empty());
    }
}
