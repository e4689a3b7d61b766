//! The waitlist of a sold-out deal: first come, first offered. Joining twice
//! keeps the first place; an offered customer leaves the list.
//!
//! Indexed by customer: a join or a position costs a hash lookup and a
//! binary search over the queue (kept in ticket order), not a scan of the
//! list, so a sell-out with many thousands joining stays linear overall.

use super::ids::CustomerId;
use std::collections::{HashMap, VecDeque};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waitlist {
    /// `(ticket, customer)` in joining order; tickets only grow, so the
    /// queue is sorted by ticket.
    queue: VecDeque<(u64, CustomerId)>,
    /// Customer -> their ticket, for everyone in `queue`.
    tickets: HashMap<CustomerId, u64>,
    next_ticket: u64,
}

impl Waitlist {
    /// Rebuilds from persisted `(ticket, customer)` entries (any order).
    pub fn restore(entries: impl IntoIterator<Item = (u64, CustomerId)>) -> Self {
        let mut queue: Vec<(u64, CustomerId)> = entries.into_iter().collect();
        queue.sort();
        let next_ticket = queue.last().map_or(0, |(ticket, _)| ticket + 1);
        let mut tickets = HashMap::with_capacity(queue.len());
        for (ticket, customer) in &queue {
            // A customer stored twice keeps the first place.
            tickets.entry(customer.clone()).or_insert(*ticket);
        }
        queue.retain(|(ticket, customer)| tickets.get(customer) == Some(ticket));
        Waitlist { queue: queue.into(), tickets, next_ticket }
    }

    /// Joins (or finds) the customer; returns their ticket, 1-based position
    /// and whether they were added now.
    pub fn join(&mut self, customer: &CustomerId) -> (u64, usize, bool) {
        if let Some(ticket) = self.tickets.get(customer).copied() {
            return (ticket, self.place_of(ticket), false);
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.queue.push_back((ticket, customer.clone()));
        self.tickets.insert(customer.clone(), ticket);
        (ticket, self.queue.len(), true)
    }

    /// The 1-based position of a customer, if waiting.
    pub fn position(&self, customer: &CustomerId) -> Option<usize> {
        self.tickets.get(customer).map(|ticket| self.place_of(*ticket))
    }

    /// The 1-based place of a ticket in the queue.
    fn place_of(&self, ticket: u64) -> usize {
        self.queue.binary_search_by_key(&ticket, |(queued, _)| *queued).map_or(self.queue.len(), |index| index + 1)
    }

    /// The first in line, without removing them.
    pub fn front(&self) -> Option<&(u64, CustomerId)> {
        self.queue.front()
    }

    /// Removes the first in line (they were offered units, or cannot be).
    pub fn pop(&mut self) -> Option<(u64, CustomerId)> {
        let first = self.queue.pop_front()?;
        self.tickets.remove(&first.1);
        Some(first)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(n: u32) -> CustomerId {
        CustomerId::parse(&format!("cus_{n}")).unwrap()
    }

    #[test]
    fn customers_are_offered_in_joining_order_and_keep_their_first_place() {
        let mut list = Waitlist::default();
        assert_eq!(list.join(&customer(1)), (0, 1, true));
        assert_eq!(list.join(&customer(2)), (1, 2, true));
        assert_eq!(list.join(&customer(1)), (0, 1, false), "joining again keeps the first place");
        assert_eq!(list.position(&customer(2)), Some(2));
        assert_eq!(list.pop(), Some((0, customer(1))));
        assert_eq!(list.position(&customer(2)), Some(1));
        assert_eq!(list.join(&customer(3)), (2, 2, true), "tickets only grow");
    }

    #[test]
    fn positions_follow_the_queue_through_many_joins_and_offers() {
        let mut list = Waitlist::default();
        for n in 0..10_000 {
            assert_eq!(list.join(&customer(n)).1, n as usize + 1);
        }
        for _ in 0..2_500 {
            list.pop();
        }
        assert_eq!(list.position(&customer(2_499)), None, "offered customers left");
        assert_eq!(list.position(&customer(2_500)), Some(1));
        assert_eq!(list.join(&customer(9_999)), (9_999, 7_500, false));
        assert_eq!(list.join(&customer(0)), (10_000, 7_501, true), "an offered customer may join again");
    }

    #[test]
    fn a_restored_list_keeps_the_order_and_the_ticket_counter() {
        let list = Waitlist::restore([(7, customer(2)), (3, customer(1))]);
        assert_eq!(list.front(), Some(&(3, customer(1))));
        let mut list = list;
        assert_eq!(list.join(&customer(9)).0, 8);
    }
}
