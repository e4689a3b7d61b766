//! Warehouses: few, read often, written rarely, so they
//! live in a map behind a lock and each create is one durable record.

use super::Inventory;
use crate::engine::{Warehouse, WarehouseId};
use crate::store::{keys, Batch, Keyspace};
use crate::Error;
use std::collections::BTreeMap;

pub(super) fn load(store: &Keyspace) -> Result<BTreeMap<WarehouseId, Warehouse>, Error> {
    Ok(store
        .scan_prefix::<Warehouse>(&[keys::WAREHOUSE])?
        .into_iter()
        .map(|(_, warehouse)| (warehouse.id.clone(), warehouse))
        .collect())
}

impl<'a> Inventory<'a> {
    /// Adds a warehouse; [`Error::WarehouseExists`] if the id is taken.
    pub async fn create_warehouse(self, warehouse: Warehouse) -> Result<Warehouse, Error> {
        let _pass = self.m.enter()?;
        let ticket = {
            let mut warehouses = self.s.warehouses.write();
            if warehouses.contains_key(&warehouse.id) {
                return Err(Error::WarehouseExists(warehouse.id));
            }
            let ticket = self.s.store.write(Batch::new_put(keys::warehouse(&warehouse.id), &warehouse)?)?;
            warehouses.insert(warehouse.id.clone(), warehouse.clone());
            ticket
        };
        self.s.store.durable(ticket).await?;
        Ok(warehouse)
    }

    pub fn warehouse(self, id: &WarehouseId) -> Option<Warehouse> {
        self.s.warehouses.read().get(id).cloned()
    }

    /// Every warehouse, by id.
    pub fn warehouses(self) -> Vec<Warehouse> {
        self.s.warehouses.read().values().cloned().collect()
    }
}
