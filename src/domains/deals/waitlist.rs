//! Deal waitlists.
//!
//! A customer joins the waitlist of a sold-out deal. When units come back
//! (a claim released or expired), the shard tells the dispatcher, which
//! offers them to the waiting customers in joining order: an offer is a
//! claim made on the customer's behalf with its own hold time. While anyone
//! waits, the deal's sold-out flag stays up, so the returned units go only
//! to them.

use super::Deals;
use crate::engine::deal::DealError;
use crate::engine::{CustomerId, DealId};
use crate::store::{keys, Batch};
use crate::Error;
use crate::Reservation;
use std::sync::atomic::Ordering;

/// Where a customer stands on a deal's waitlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitlistSpot {
    /// 1-based place in line, `None` once offered (or not waiting).
    pub position: Option<usize>,
    /// The claim offered to the customer, if any.
    pub offer: Option<Reservation>,
}

impl<'a> Deals<'a> {
    /// Joins the waitlist of a sold-out deal (idempotent: keeps the first
    /// place). A deal with units for everyone is [`DealError::NotSoldOut`].
    pub async fn join_waitlist(self, deal: &DealId, customer: &CustomerId) -> Result<WaitlistSpot, Error> {
        let record = self.deal_record(deal)?;
        if record.terms.phase(self.m.now()) == crate::engine::deal::DealPhase::Ended {
            return Err(DealError::NotActive.into());
        }
        if let Some(spot) = self.offered(deal, customer).await? {
            return Ok(spot);
        }
        let book = &self.s.book;
        let waiting = book.waitlists.get(deal).is_some_and(|list| !list.is_empty());
        let remaining = self.get(deal).await?.remaining;
        if remaining > 0 && !waiting {
            return Err(DealError::NotSoldOut.into());
        }
        let (ticket, position, added) = book.waitlists.entry(deal.clone()).or_default().join(customer);
        if added {
            let _pass = self.m.enter()?;
            let ticket = self.s.store.write(Batch::new_put(keys::waitlist_entry(deal, ticket), customer)?)?;
            book.flag(deal).store(true, Ordering::Release);
            self.s.store.durable(ticket).await?;
        }
        if remaining > 0 {
            book.units_returned(deal);
        }
        Ok(WaitlistSpot { position: Some(position), offer: None })
    }

    /// The customer's place in line, or their offer.
    pub async fn waitlist_spot(self, deal: &DealId, customer: &CustomerId) -> Result<WaitlistSpot, Error> {
        self.deal_record(deal)?;
        if let Some(spot) = self.offered(deal, customer).await? {
            return Ok(spot);
        }
        let position = self.s.book.waitlists.get(deal).and_then(|list| list.position(customer));
        Ok(WaitlistSpot { position, offer: None })
    }

    async fn offered(self, deal: &DealId, customer: &CustomerId) -> Result<Option<WaitlistSpot>, Error> {
        let offer = self.s.book.offers.get(&(deal.clone(), customer.clone())).map(|entry| entry.value().clone());
        let Some(offer) = offer else { return Ok(None) };
        let reservation = self.m.inventory().reservation(&offer).await?;
        Ok(Some(WaitlistSpot { position: None, offer: Some(reservation) }))
    }

    /// Offers free units of `deal` to its waiting customers, first in line
    /// first, until units or customers run out; then, with nobody left
    /// waiting, the deal opens again for everyone.
    pub async fn serve_waitlist(self, deal: &DealId) -> Result<(), Error> {
        let record = self.deal_record(deal)?;
        let book = &self.s.book;
        loop {
            let front = book.waitlists.get(deal).and_then(|list| list.front().cloned());
            let Some((ticket, customer)) = front else {
                if self.get(deal).await?.remaining > 0 {
                    book.flag(deal).store(false, Ordering::Release);
                }
                return Ok(());
            };
            let ttl_ms = self.m.config().waitlist_offer_ttl_ms;
            match self.claim_now(&record, &customer, 1, ttl_ms, None).await {
                Ok(claimed) => {
                    book.offers.insert((deal.clone(), customer.clone()), claimed.id.clone());
                    self.leave_waitlist(deal, ticket, Some((&customer, &claimed.id))).await?;
                }
                // Units ran out again: the rest keep their places.
                Err(Error::Deal(DealError::SoldOut)) => {
                    book.flag(deal).store(true, Ordering::Release);
                    return Ok(());
                }
                // This customer cannot take units (limit reached, deal over): next.
                Err(Error::Deal(_)) => self.leave_waitlist(deal, ticket, None).await?,
                Err(other) => return Err(other),
            }
        }
    }

    /// Takes the customer of `ticket` off the line; with an offer, records it
    /// in the same write (it survives a restart).
    async fn leave_waitlist(
        self,
        deal: &DealId,
        ticket: u64,
        offer: Option<(&CustomerId, &crate::engine::ReservationId)>,
    ) -> Result<(), Error> {
        if let Some(mut list) = self.s.book.waitlists.get_mut(deal) {
            if list.front().is_some_and(|(first, _)| *first == ticket) {
                list.pop();
            }
        }
        let mut batch = Batch::new();
        batch.delete(keys::waitlist_entry(deal, ticket));
        if let Some((customer, claim)) = offer {
            batch.put(keys::waitlist_offer(deal, customer), claim)?;
        }
        let written = self.s.store.write(batch)?;
        self.s.store.durable(written).await?;
        Ok(())
    }
}
