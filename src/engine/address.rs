//! Postal addresses and the table of countries and regions Mercato ships to.
//!
//! An [`Address`] can only be built through [`Address::parse`] (deserializing
//! goes through it too), so a stored address is always valid:
//!
//! - `name`, `line1`, `city` and `postal_code` are required: trimmed, non-empty
//!   and at most [`FIELD_CHARS_MAX`] characters (`postal_code` at most
//!   [`POSTAL_CODE_CHARS_MAX`]); `line2` is optional with the same bound.
//! - `country` is an ISO 3166-1 alpha-2 code among [`COUNTRIES`] (case-insensitive
//!   on input, stored uppercase).
//! - For a country with a region list (the US: the 50 states and DC) `region` is
//!   required and must be one of its codes (`CA`, `NY`, ...); elsewhere it is
//!   optional free text.
//! - A US postal code is 5 digits or 5+4 (`12345` or `12345-6789`); elsewhere it
//!   is letters, digits, spaces and dashes.
//!
//! Each country and US state has a representative location (a centroid), which
//! shipping uses to measure distance from a warehouse ([`Address::location`]).

use super::warehouse::GeoPoint;
use serde::{Deserialize, Serialize};

/// Longest name, address line or city.
pub const FIELD_CHARS_MAX: usize = 200;
/// Longest postal code.
pub const POSTAL_CODE_CHARS_MAX: usize = 16;
/// Longest free-text region (countries without a region list).
pub const REGION_CHARS_MAX: usize = 64;

/// A region of a country (a US state), with its centroid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionInfo {
    pub code: &'static str,
    pub name: &'static str,
    pub centroid: GeoPoint,
}

/// A country Mercato ships to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountryInfo {
    /// ISO 3166-1 alpha-2.
    pub code: &'static str,
    pub name: &'static str,
    /// The known regions; empty when the region is optional free text.
    pub regions: &'static [RegionInfo],
    pub centroid: GeoPoint,
}

impl CountryInfo {
    pub fn region(&self, code: &str) -> Option<&'static RegionInfo> {
        self.regions.iter().find(|region| region.code == code)
    }
}

const fn region(code: &'static str, name: &'static str, lat: f64, lon: f64) -> RegionInfo {
    RegionInfo { code, name, centroid: GeoPoint { lat, lon } }
}

const fn country(code: &'static str, name: &'static str, lat: f64, lon: f64) -> CountryInfo {
    CountryInfo { code, name, regions: &[], centroid: GeoPoint { lat, lon } }
}

/// The US states and DC with their approximate geographic centres.
pub const US_STATES: &[RegionInfo] = &[
    region("AL", "Alabama", 32.8, -86.8),
    region("AK", "Alaska", 64.7, -152.0),
    region("AZ", "Arizona", 34.3, -111.7),
    region("AR", "Arkansas", 34.9, -92.4),
    region("CA", "California", 37.2, -119.5),
    region("CO", "Colorado", 39.0, -105.5),
    region("CT", "Connecticut", 41.6, -72.7),
    region("DE", "Delaware", 39.0, -75.5),
    region("DC", "District of Columbia", 38.9, -77.0),
    region("FL", "Florida", 28.6, -82.4),
    region("GA", "Georgia", 32.7, -83.4),
    region("HI", "Hawaii", 20.3, -156.4),
    region("ID", "Idaho", 44.4, -114.6),
    region("IL", "Illinois", 40.0, -89.2),
    region("IN", "Indiana", 39.9, -86.3),
    region("IA", "Iowa", 42.1, -93.5),
    region("KS", "Kansas", 38.5, -98.4),
    region("KY", "Kentucky", 37.5, -85.3),
    region("LA", "Louisiana", 31.1, -92.0),
    region("ME", "Maine", 45.4, -69.2),
    region("MD", "Maryland", 39.0, -76.8),
    region("MA", "Massachusetts", 42.3, -71.8),
    region("MI", "Michigan", 44.3, -85.4),
    region("MN", "Minnesota", 46.3, -94.3),
    region("MS", "Mississippi", 32.7, -89.7),
    region("MO", "Missouri", 38.4, -92.5),
    region("MT", "Montana", 47.0, -109.6),
    region("NE", "Nebraska", 41.5, -99.8),
    region("NV", "Nevada", 39.3, -116.6),
    region("NH", "New Hampshire", 43.7, -71.6),
    region("NJ", "New Jersey", 40.2, -74.7),
    region("NM", "New Mexico", 34.4, -106.1),
    region("NY", "New York", 42.9, -75.5),
    region("NC", "North Carolina", 35.6, -79.4),
    region("ND", "North Dakota", 47.5, -100.5),
    region("OH", "Ohio", 40.3, -82.8),
    region("OK", "Oklahoma", 35.6, -97.5),
    region("OR", "Oregon", 43.9, -120.6),
    region("PA", "Pennsylvania", 40.9, -77.8),
    region("RI", "Rhode Island", 41.7, -71.5),
    region("SC", "South Carolina", 33.9, -80.9),
    region("SD", "South Dakota", 44.4, -100.2),
    region("TN", "Tennessee", 35.9, -86.4),
    region("TX", "Texas", 31.5, -99.3),
    region("UT", "Utah", 39.3, -111.7),
    region("VT", "Vermont", 44.1, -72.7),
    region("VA", "Virginia", 37.5, -78.9),
    region("WA", "Washington", 47.4, -120.5),
    region("WV", "West Virginia", 38.6, -80.6),
    region("WI", "Wisconsin", 44.6, -89.9),
    region("WY", "Wyoming", 43.0, -107.6),
];

/// Every country Mercato ships to: the US and twelve EU member states.
pub const COUNTRIES: &[CountryInfo] = &[
    CountryInfo { code: "US", name: "United States", regions: US_STATES, centroid: GeoPoint { lat: 39.8, lon: -98.6 } },
    country("AT", "Austria", 47.6, 14.1),
    country("BE", "Belgium", 50.6, 4.6),
    country("DE", "Germany", 51.2, 10.4),
    country("ES", "Spain", 40.2, -3.6),
    country("FI", "Finland", 64.0, 26.0),
    country("FR", "France", 46.6, 2.4),
    country("IE", "Ireland", 53.4, -8.2),
    country("IT", "Italy", 42.8, 12.8),
    country("LU", "Luxembourg", 49.8, 6.1),
    country("NL", "Netherlands", 52.1, 5.3),
    country("PL", "Poland", 52.1, 19.4),
    country("PT", "Portugal", 39.6, -8.0),
];

/// The country with ISO code `code` (uppercase), if Mercato ships there.
pub fn country_info(code: &str) -> Option<&'static CountryInfo> {
    COUNTRIES.iter().find(|country| country.code == code)
}

/// Why an address is refused. `field` is the wire name of the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: &'static str },
}

/// An address as received: unvalidated text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AddressInput {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default)]
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
}

/// A validated postal address (see the module docs for the rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "AddressInput")]
pub struct Address {
    name: String,
    line1: String,
    line2: Option<String>,
    city: String,
    region: Option<String>,
    postal_code: String,
    country: String,
}

impl TryFrom<AddressInput> for Address {
    type Error = AddressError;
    fn try_from(input: AddressInput) -> Result<Self, Self::Error> {
        Address::parse(&input)
    }
}

fn invalid(field: &'static str, reason: &'static str) -> AddressError {
    AddressError::Invalid { field, reason }
}

fn bounded(field: &'static str, raw: &str, max: usize) -> Result<String, AddressError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if trimmed.chars().count() > max {
        return Err(invalid(field, "is too long"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

fn optional(field: &'static str, raw: Option<&str>, max: usize) -> Result<Option<String>, AddressError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => bounded(field, text, max).map(Some),
    }
}

fn is_us_postal_code(code: &str) -> bool {
    let bytes = code.as_bytes();
    let digits = |part: &[u8]| part.iter().all(u8::is_ascii_digit);
    match bytes.len() {
        5 => digits(bytes),
        10 => digits(&bytes[..5]) && bytes[5] == b'-' && digits(&bytes[6..]),
        _ => false,
    }
}

impl Address {
    /// Validates and normalizes an address (trimmed fields, uppercase country
    /// and listed region codes).
    pub fn parse(input: &AddressInput) -> Result<Address, AddressError> {
        let name = bounded("name", &input.name, FIELD_CHARS_MAX)?;
        let line1 = bounded("line1", &input.line1, FIELD_CHARS_MAX)?;
        let line2 = optional("line2", input.line2.as_deref(), FIELD_CHARS_MAX)?;
        let city = bounded("city", &input.city, FIELD_CHARS_MAX)?;
        let country_code = input.country.trim().to_ascii_uppercase();
        let country = country_info(&country_code).ok_or(invalid("country", "is not a country we ship to"))?;
        let region = if country.regions.is_empty() {
            optional("region", input.region.as_deref(), REGION_CHARS_MAX)?
        } else {
            let code = input.region.as_deref().unwrap_or("").trim().to_ascii_uppercase();
            if code.is_empty() {
                return Err(invalid("region", "is required for this country"));
            }
            Some(country.region(&code).ok_or(invalid("region", "is not a region of this country"))?.code.to_owned())
        };
        let postal_code = bounded("postal_code", &input.postal_code, POSTAL_CODE_CHARS_MAX)?.to_ascii_uppercase();
        if country.code == "US" && !is_us_postal_code(&postal_code) {
            return Err(invalid("postal_code", "must be 5 digits or 5+4 (12345-6789)"));
        }
        if !postal_code.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-') {
            return Err(invalid("postal_code", "must be letters, digits, spaces and dashes"));
        }
        Ok(Address { name, line1, line2, city, region, postal_code, country: country.code.to_owned() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn line1(&self) -> &str {
        &self.line1
    }
    pub fn line2(&self) -> Option<&str> {
        self.line2.as_deref()
    }
    pub fn city(&self) -> &str {
        &self.city
    }
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
    pub fn postal_code(&self) -> &str {
        &self.postal_code
    }
    /// The ISO 3166-1 alpha-2 code, uppercase.
    pub fn country(&self) -> &str {
        &self.country
    }

    /// The tax jurisdiction key: `US-CA` for a country with a region list,
    /// the bare country code (`DE`) otherwise.
    pub fn jurisdiction(&self) -> String {
        match (&self.region, self.country_info().regions.is_empty()) {
            (Some(region), false) => format!("{}-{}", self.country, region),
            _ => self.country.clone(),
        }
    }

    /// Where the address is, for shipping distance: its region's centroid when
    /// the region is listed, else the country's.
    pub fn location(&self) -> GeoPoint {
        let country = self.country_info();
        self.region.as_deref().and_then(|code| country.region(code)).map_or(country.centroid, |region| region.centroid)
    }

    fn country_info(&self) -> &'static CountryInfo {
        // `parse` only accepts listed countries; the fallback is unreachable.
        country_info(&self.country).unwrap_or(&COUNTRIES[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(region: Option<&str>, postal_code: &str, country: &str) -> AddressInput {
        AddressInput {
            name: " Ada Lovelace ".into(),
            line1: "1 Main St".into(),
            line2: Some("  ".into()),
            city: "Springfield".into(),
            region: region.map(str::to_owned),
            postal_code: postal_code.into(),
            country: country.into(),
        }
    }

    fn field(result: Result<Address, AddressError>) -> &'static str {
        match result {
            Err(AddressError::Invalid { field, .. }) => field,
            Ok(_) => "accepted",
        }
    }

    #[test]
    fn a_us_address_is_normalized() {
        let address = Address::parse(&input(Some("ca"), "94105-1234", "us")).unwrap();
        assert_eq!(address.name(), "Ada Lovelace");
        assert_eq!(address.line2(), None);
        assert_eq!(address.country(), "US");
        assert_eq!(address.region(), Some("CA"));
        assert_eq!(address.jurisdiction(), "US-CA");
        assert_eq!(address.location(), GeoPoint { lat: 37.2, lon: -119.5 });
    }

    #[test]
    fn us_addresses_need_a_known_state_and_a_zip_code() {
        assert_eq!(field(Address::parse(&input(None, "10001", "US"))), "region");
        assert_eq!(field(Address::parse(&input(Some("ZZ"), "10001", "US"))), "region");
        assert_eq!(field(Address::parse(&input(Some("NY"), "1000", "US"))), "postal_code");
        assert_eq!(field(Address::parse(&input(Some("NY"), "10001-12", "US"))), "postal_code");
        assert_eq!(field(Address::parse(&input(Some("NY"), "1000A", "US"))), "postal_code");
        assert_eq!(field(Address::parse(&input(Some("DC"), "20001", "US"))), "accepted");
    }

    #[test]
    fn eu_addresses_take_an_optional_free_region() {
        let address = Address::parse(&input(None, "10115", "de")).unwrap();
        assert_eq!(address.jurisdiction(), "DE");
        assert_eq!(address.location(), country_info("DE").unwrap().centroid);
        let with_region = Address::parse(&input(Some("Bayern"), "80331", "DE")).unwrap();
        assert_eq!(with_region.region(), Some("Bayern"));
        assert_eq!(with_region.jurisdiction(), "DE");
        assert_eq!(field(Address::parse(&input(None, "D02 X285", "IE"))), "accepted");
        assert_eq!(field(Address::parse(&input(None, "75001!", "FR"))), "postal_code");
    }

    #[test]
    fn required_fields_unknown_countries_and_long_text_are_named() {
        assert_eq!(field(Address::parse(&input(None, "1", "XX"))), "country");
        let mut blank = input(Some("NY"), "10001", "US");
        blank.city = " ".into();
        assert_eq!(field(Address::parse(&blank)), "city");
        let mut long = input(Some("NY"), "10001", "US");
        long.line1 = "x".repeat(FIELD_CHARS_MAX + 1);
        assert_eq!(field(Address::parse(&long)), "line1");
        let mut control = input(Some("NY"), "10001", "US");
        control.name = "a\u{0}b".into();
        assert_eq!(field(Address::parse(&control)), "name");
    }

    #[test]
    fn the_table_lists_every_state_and_dc_once() {
        assert_eq!(US_STATES.len(), 51);
        let mut codes: Vec<_> = US_STATES.iter().map(|state| state.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), 51);
    }

    #[test]
    fn deserializing_validates() {
        let json = r#"{"name":"A","line1":"L","city":"C","region":"tx","postal_code":"73301","country":"US"}"#;
        let address: Address = serde_json::from_str(json).unwrap();
        assert_eq!(address.region(), Some("TX"));
        let back: Address = serde_json::from_str(&serde_json::to_string(&address).unwrap()).unwrap();
        assert_eq!(back, address);
        assert!(serde_json::from_str::<Address>(&json.replace("73301", "7")).is_err());
    }
}
