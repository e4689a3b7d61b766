//! The OpenAPI 3 document, made from the route table (`super::table()`):
//! each route's operation comes from the same declaration as the filter that
//! serves it (see `route.rs`), so the two cannot drift; a test checks that
//! the document lists exactly the table's routes and that each answers.

use super::route::Documented;
use std::collections::BTreeMap;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, Paths};

/// The document served at `GET /openapi.json`.
pub fn document() -> OpenApi {
    from_operations(super::table().operations())
}

/// The document of these operations, with every component schema they
/// refer to and the bearer scheme their security names.
pub fn from_operations(operations: &[Documented]) -> OpenApi {
    let mut paths = Paths::new();
    // By name, so a schema that several operations use is listed once.
    let mut schemas = BTreeMap::new();
    for documented in operations {
        paths.add_path_operation(documented.path(), vec![documented.http_method()], documented.operation().clone());
        schemas.extend(documented.schemas().iter().cloned());
    }
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()))
        .build();
    let license = env!("CARGO_PKG_LICENSE");
    let info = InfoBuilder::new()
        .title("Mercato")
        .description(Some("An actor-based, in-memory commerce engine for flash sales"))
        .version(env!("CARGO_PKG_VERSION"))
        .license(Some(LicenseBuilder::new().name(license).identifier(Some(license)).build()))
        .build();
    OpenApiBuilder::new().info(info).paths(paths).components(Some(components)).build()
}
