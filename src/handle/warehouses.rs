//! Warehouses through the handle: few, read often, written rarely, so they
//! live in a map behind a lock and each create is one durable record.

use super::{Error, Mercato};
use crate::engine::{Warehouse, WarehouseId};
use crate::store::{keys, Batch, Store};
use std::collections::BTreeMap;

pub(super) fn load(store: &Store) -> Result<BTreeMap<WarehouseId, Warehouse>, Error> {
    Ok(store
        .scan_prefix::<Warehouse>(&[keys::WAREHOUSE])?
        .into_iter()
        .map(|(_, warehouse)| (warehouse.id.clone(), warehouse))
        .collect())
}

impl Mercato {
    /// Adds a warehouse; [`Error::WarehouseExists`] if the id is taken.
    pub async fn create_warehouse(&self, warehouse: Warehouse) -> Result<Warehouse, Error> {
        let _pass = self.enter()?;
        let ticket = {
            let mut warehouses = self.inner.warehouses.write();
            if warehouses.contains_key(&warehouse.id) {
                return Err(Error::WarehouseExists(warehouse.id));
            }
            let ticket = self.inner.env.store.write(Batch::new_put(keys::warehouse(&warehouse.id), &warehouse)?)?;
            warehouses.insert(warehouse.id.clone(), warehouse.clone());
            ticket
        };
        self.inner.env.store.durable(ticket).await?;
        Ok(warehouse)
    }

    pub fn warehouse(&self, id: &WarehouseId) -> Option<Warehouse> {
        self.inner.warehouses.read().get(id).cloned()
    }

    /// Every warehouse, by id.
    pub fn warehouses(&self) -> Vec<Warehouse> {
        self.inner.warehouses.read().values().cloned().collect()
    }
}
