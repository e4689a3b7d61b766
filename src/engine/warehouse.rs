//! Warehouses: where stock is kept. Their location drives shipping distance.

use super::ids::WarehouseId;
use serde::{Deserialize, Serialize};

/// A point on Earth in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Warehouse {
    pub id: WarehouseId,
    pub name: String,
    pub location: GeoPoint,
    /// A region code such as `US-NJ`.
    pub region: String,
}

/// Why a warehouse is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarehouseError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Warehouse {
    /// Validates the fields: a name of 1..=200 characters, a latitude within
    /// ±90 and a longitude within ±180, a region of 1..=32 characters.
    pub fn new(id: WarehouseId, name: &str, location: GeoPoint, region: &str) -> Result<Warehouse, WarehouseError> {
        let invalid = |field, reason: &str| WarehouseError::Invalid { field, reason: reason.to_owned() };
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("name", "must be 1..=200 characters"));
        }
        if !location.lat.is_finite() || !(-90.0..=90.0).contains(&location.lat) {
            return Err(invalid("location.lat", "must be within -90..=90"));
        }
        if !location.lon.is_finite() || !(-180.0..=180.0).contains(&location.lon) {
            return Err(invalid("location.lon", "must be within -180..=180"));
        }
        let region = region.trim();
        if region.is_empty() || region.chars().count() > 32 {
            return Err(invalid("region", "must be 1..=32 characters"));
        }
        Ok(Warehouse { id, name: name.to_owned(), location, region: region.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> WarehouseId {
        WarehouseId::parse("W-EAST").unwrap()
    }

    #[test]
    fn a_valid_warehouse_is_accepted_and_trimmed() {
        let warehouse = Warehouse::new(id(), " East ", GeoPoint { lat: 40.5, lon: -74.4 }, "US-NJ").unwrap();
        assert_eq!(warehouse.name, "East");
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let point = GeoPoint { lat: 0.0, lon: 0.0 };
        let field = |result: Result<Warehouse, WarehouseError>| match result {
            Err(WarehouseError::Invalid { field, .. }) => field,
            Ok(_) => "accepted",
        };
        assert_eq!(field(Warehouse::new(id(), "", point, "R")), "name");
        assert_eq!(field(Warehouse::new(id(), "N", GeoPoint { lat: 91.0, lon: 0.0 }, "R")), "location.lat");
        assert_eq!(field(Warehouse::new(id(), "N", GeoPoint { lat: 0.0, lon: f64::NAN }, "R")), "location.lon");
        assert_eq!(field(Warehouse::new(id(), "N", point, " ")), "region");
    }
}
