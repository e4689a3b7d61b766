//! One expiry timer per actor, set for its earliest deadline: shared by the
//! actors whose holds expire (inventory buckets, deal shards). Expiry also
//! runs on every access, so a timer only has to be on time, never exact.

use crate::engine::Timestamp;
use actix::{Actor, AsyncContext, Context, SpawnHandle};
use std::time::Duration;

/// The armed timer, if any, and the deadline it was set for.
#[derive(Default)]
pub struct ExpiryTimer(Option<(Timestamp, SpawnHandle)>);

/// An actor with holds that fall due.
pub trait Expiring: Actor<Context = Context<Self>> {
    fn expiry_timer(&mut self) -> &mut ExpiryTimer;
    /// The earliest deadline of a live hold.
    fn next_expiry(&self) -> Option<Timestamp>;
    fn now(&self) -> Timestamp;
    /// Expires what is due at `now` (and persists it).
    fn expire_due(&mut self, now: Timestamp, ctx: &mut Context<Self>);
    /// Runs every `idle_check_every`: expiry, pruning, passivation.
    fn housekeeping(&mut self, ctx: &mut Context<Self>);
}

/// Starts an actor whose holds expire: bounds its mailbox, runs its
/// housekeeping every idle check, expires what fell due while it was not
/// running, and arms its timer.
pub fn start<A: Expiring>(actor: &mut A, ctx: &mut Context<A>, config: &super::ActorConfig) {
    ctx.set_mailbox_capacity(config.mailbox_capacity);
    ctx.run_interval(config.idle_check_every, |actor: &mut A, ctx| actor.housekeeping(ctx));
    let now = actor.now();
    actor.expire_due(now, ctx);
    arm(actor, ctx);
}

/// Sets the timer for the earliest deadline, unless one already fires at
/// or before it.
pub fn arm<A: Expiring>(actor: &mut A, ctx: &mut Context<A>) {
    let Some(next) = actor.next_expiry() else { return };
    let delay = Duration::from_millis(next.millis_since(actor.now()).max(1));
    let timer = actor.expiry_timer();
    if timer.0.as_ref().is_some_and(|(at, _)| *at <= next) {
        return;
    }
    if let Some((_, handle)) = timer.0.take() {
        ctx.cancel_future(handle);
    }
    let handle = ctx.run_later(delay, |actor: &mut A, ctx| {
        actor.expiry_timer().0 = None;
        let now = actor.now();
        actor.expire_due(now, ctx);
        arm(actor, ctx);
    });
    actor.expiry_timer().0 = Some((next, handle));
}
