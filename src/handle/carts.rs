//! Carts through the handle.

use super::{Error, Mercato};
use crate::actors::cart::{CartCommand, CartMessage, CartSnapshot};
use crate::actors::Crash;
use crate::engine::{CartId, Sku};

impl Mercato {
    /// Creates a guest cart with a new unguessable id.
    pub async fn create_cart(&self) -> Result<CartSnapshot, Error> {
        self.cart_command(&CartId::generate(rand::random()), CartCommand::Create).await
    }

    /// Opens the cart `id`, creating it if it does not exist (a customer's cart).
    pub async fn open_cart(&self, id: &CartId) -> Result<CartSnapshot, Error> {
        self.cart_command(id, CartCommand::Create).await
    }

    /// Reads a cart; [`Error::CartNotFound`] if it was never created.
    pub async fn cart(&self, id: &CartId) -> Result<CartSnapshot, Error> {
        self.cart_command(id, CartCommand::Read).await
    }

    /// Adds units to the line of `sku` (creating it).
    pub async fn add_to_cart(&self, id: &CartId, sku: Sku, quantity: u32) -> Result<CartSnapshot, Error> {
        self.cart_command(id, CartCommand::Add { sku, quantity }).await
    }

    /// Sets the quantity of a line; 0 removes it.
    pub async fn set_cart_quantity(&self, id: &CartId, sku: Sku, quantity: u32) -> Result<CartSnapshot, Error> {
        self.cart_command(id, CartCommand::SetQuantity { sku, quantity }).await
    }

    pub async fn remove_from_cart(&self, id: &CartId, sku: Sku) -> Result<CartSnapshot, Error> {
        self.cart_command(id, CartCommand::Remove { sku }).await
    }

    pub async fn save_for_later(&self, id: &CartId, sku: Sku) -> Result<CartSnapshot, Error> {
        self.cart_command(id, CartCommand::SaveForLater { sku }).await
    }

    pub async fn move_to_cart(&self, id: &CartId, sku: Sku) -> Result<CartSnapshot, Error> {
        self.cart_command(id, CartCommand::MoveToCart { sku }).await
    }

    pub async fn clear_cart(&self, id: &CartId) -> Result<CartSnapshot, Error> {
        self.cart_command(id, CartCommand::Clear).await
    }

    /// Merges a guest cart into `into` (same SKUs add, capped at the line
    /// limit) and leaves the guest cart without what was merged.
    ///
    /// Two actors, no lock: the merge into `into` is idempotent by the guest
    /// cart's content fingerprint, and the guest then subtracts exactly the
    /// merged quantities. A crash between the two steps leaves the lines in
    /// both carts (never in neither); repeating the merge is a no-op on
    /// `into` and completes the subtraction.
    pub async fn merge_carts(&self, guest: &CartId, into: &CartId) -> Result<CartSnapshot, Error> {
        if guest == into {
            return Err(Error::InvalidInput("a cart cannot be merged into itself".to_owned()));
        }
        let source = self.cart(guest).await?;
        if source.lines.is_empty() && source.saved.is_empty() {
            return self.cart(into).await;
        }
        let merge = CartCommand::Merge {
            source: guest.clone(),
            fingerprint: source.fingerprint,
            lines: source.lines.clone(),
            saved: source.saved.clone(),
        };
        let merged = self.cart_command(into, merge).await?;
        self.cart_command(guest, CartCommand::RemoveMerged { lines: source.lines, saved: source.saved }).await?;
        Ok(merged)
    }

    /// Fault injection: stops a cart's actor as if it crashed.
    pub async fn crash_cart_actor(&self, id: &CartId) -> Result<(), Error> {
        let _pass = self.enter()?;
        self.inner.carts.call(id, Crash).await?;
        Ok(())
    }

    pub(super) async fn cart_command(&self, id: &CartId, command: CartCommand) -> Result<CartSnapshot, Error> {
        let _pass = self.enter()?;
        let reply = self.inner.carts.call(id, CartMessage(command)).await?;
        self.settle(reply).await
    }
}
