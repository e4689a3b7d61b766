//! The OpenAPI 3 document, generated from the `#[utoipa::path]` annotations
//! on the route actions (so it cannot drift from what is served; a test
//! probes every documented route and every route of API.md).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Mercato", description = "An actor-based, in-memory commerce engine for flash sales"),
    paths(
        super::service::health,
        super::service::metrics,
        super::service::openapi,
        super::products::import,
        super::products::create,
        super::products::read,
        super::products::patch,
        super::products::categories,
        super::search::search,
        super::search::suggest,
        super::search::rebuild,
        super::warehouses::create,
        super::reservations::inventory,
        super::reservations::set_stock,
        super::reservations::create,
        super::reservations::read,
        super::reservations::commit,
        super::reservations::release,
        super::customers::register,
        super::customers::sign_in,
        super::customers::me,
        super::customers::assign_seller,
        super::customers::start_membership,
        super::customers::cancel_membership,
        super::carts::create,
        super::carts::read,
        super::carts::add,
        super::carts::set,
        super::carts::remove,
        super::carts::save_for_later,
        super::carts::move_to_cart,
        super::carts::merge,
        super::deals::create,
        super::deals::read,
        super::deals::claim,
        super::deals::events,
        super::deals::join_waitlist,
        super::deals::waitlist_spot,
        super::checkout::add_payment_method,
        super::checkout::issue_gift_card,
        super::checkout::gift_card,
        super::checkout::start,
        super::checkout::read,
        super::checkout::set_address,
        super::checkout::shipping_options,
        super::checkout::set_shipping,
        super::checkout::set_payment,
        super::checkout::accept_prices,
        super::orders::place,
        super::orders::read,
        super::orders::list,
        super::orders::cancel,
        super::orders::request_return,
        super::orders::ship,
        super::orders::deliver,
        super::orders::receive_return,
    ),
    modifiers(&BearerToken)
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document served at `GET /openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
