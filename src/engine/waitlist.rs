//! The waitlist of a sold-out deal: first come, first offered. Joining twice
//! keeps the first place; an offered customer leaves the list.

use super::ids::CustomerId;
use std::collections::VecDeque;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waitlist {
    /// `(ticket, customer)` in joining order; tickets only grow.
    queue: VecDeque<(u64, CustomerId)>,
    next_ticket: u64,
}

impl Waitlist {
    /// Rebuilds from persisted `(ticket, customer)` entries (any order).
    pub fn restore(entries: impl IntoIterator<Item = (u64, CustomerId)>) -> Self {
        let mut queue: Vec<(u64, CustomerId)> = entries.into_iter().collect();
        queue.sort();
        let next_ticket = queue.last().map_or(0, |(ticket, _)| ticket + 1);
        Waitlist { queue: queue.into(), next_ticket }
    }

    /// Joins (or finds) the customer; returns their ticket, 1-based position
    /// and whether they were added now.
    pub fn join(&mut self, customer: &CustomerId) -> (u64, usize, bool) {
        if let Some(index) = self.queue.iter().position(|(_, waiting)| waiting == customer) {
            return (self.queue[index].0, index + 1, false);
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.queue.push_back((ticket, customer.clone()));
        (ticket, self.queue.len(), true)
    }

    /// The 1-based position of a customer, if waiting.
    pub fn position(&self, customer: &CustomerId) -> Option<usize> {
        self.queue.iter().position(|(_, waiting)| waiting == customer).map(|index| index + 1)
    }

    /// The first in line, without removing them.
    pub fn front(&self) -> Option<&(u64, CustomerId)> {
        self.queue.front()
    }

    /// Removes the first in line (they were offered units, or cannot be).
    pub fn pop(&mut self) -> Option<(u64, CustomerId)> {
        self.queue.pop_front()
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
    fn a_restored_list_keeps_the_order_and_the_ticket_counter() {
        let list = Waitlist::restore([(7, customer(2)), (3, customer(1))]);
        assert_eq!(list.front(), Some(&(3, customer(1))));
        let mut list = list;
        assert_eq!(list.join(&customer(9)).0, 8);
    }
}
