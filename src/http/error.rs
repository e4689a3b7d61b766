//! The one place where errors become HTTP: status + `application/problem+json`
//! with a stable `type` code (API.md, Conventions).

use crate::engine::deal::DealError;
use crate::engine::{
    CartError, CatalogError, CheckoutError, CustomerError, InventoryError, OrderError, PaymentError, PricingError,
};
use crate::Error;
use serde::Serialize;
use std::convert::Infallible;
use warp::http::StatusCode;
use warp::reject::Reject;
use warp::{Rejection, Reply};

/// A problem response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Seconds to wait before retrying (429), sent as `Retry-After`.
    pub retry_after_secs: Option<u64>,
}

/// The body of every error response (`application/problem+json`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProblemBody<'a> {
    #[serde(rename = "type")]
    code: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem { status, code, detail: detail.into(), retry_after_secs: None }
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input", detail)
    }

    /// 429 `rate-limited`, retry after `retry_after_ms` (rounded up to seconds).
    pub fn rate_limited(detail: impl Into<String>, retry_after_ms: u64) -> Self {
        let mut problem = Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", detail);
        problem.retry_after_secs = Some(retry_after_ms.div_ceil(1000).max(1));
        problem
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "invalid-input", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }
}

impl Reject for Problem {}

impl Reply for Problem {
    fn into_response(self) -> warp::reply::Response {
        let body =
            ProblemBody { code: self.code, title: self.title(), status: self.status.as_u16(), detail: &self.detail };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = warp::reply::Response::new(json.into());
        *response.status_mut() = self.status;
        response
            .headers_mut()
            .insert(warp::http::header::CONTENT_TYPE, warp::http::HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after_secs {
            response.headers_mut().insert(warp::http::header::RETRY_AFTER, warp::http::HeaderValue::from(seconds));
        }
        response
    }
}

impl From<Error> for Problem {
    fn from(err: Error) -> Self {
        let detail = err.to_string();
        match err {
            Error::Inventory(rejection) => inventory(rejection, detail),
            Error::Cart(rejection) => cart(rejection, detail),
            Error::CartNotFound(_) | Error::WarehouseNotFound(_) | Error::DealNotFound(_) => Problem::not_found(detail),
            Error::Deal(rejection) => deal(rejection, detail),
            Error::Warehouse(_) => Problem::invalid(detail),
            Error::Catalog(rejection) => catalog(rejection, detail),
            Error::Customer(rejection) => customer(rejection, detail),
            Error::WarehouseExists(_) => Problem::new(StatusCode::CONFLICT, "conflict", detail),
            Error::InvalidInput(_) => Problem::invalid(detail),
            Error::Unavailable(_) | Error::ShuttingDown => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
            }
            Error::CheckoutNotFound(_) | Error::OrderNotFound(_) => Problem::not_found(detail),
            Error::Checkout(rejection) => checkout(rejection, detail),
            Error::PlaceInProgress(_) | Error::PriceChanged(_) => {
                Problem::new(StatusCode::CONFLICT, "conflict", detail)
            }
            Error::Payment(rejection) => payment(rejection, detail),
            Error::Card(_) => Problem::invalid(detail),
            Error::FraudDeclined => Problem::new(StatusCode::PAYMENT_REQUIRED, "payment-declined", detail),
            Error::Order(rejection) => order(rejection, detail),
            Error::Search(crate::search::SearchError::Invalid(_)) => Problem::invalid(detail),
            Error::Pool(crate::pool::PoolError::Full) => Problem::rate_limited(detail, HASH_RETRY_AFTER_MS),
            Error::Corrupt(_)
            | Error::Store(_)
            | Error::Secret(_)
            | Error::Pool(crate::pool::PoolError::Failed)
            | Error::Snapshot(_)
            | Error::PlaceInterrupted
            | Error::Search(crate::search::SearchError::Index(_) | crate::search::SearchError::Corrupt(_)) => {
                tracing::error!(error = %detail, "internal error");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}

fn inventory(rejection: InventoryError, detail: String) -> Problem {
    match rejection {
        InventoryError::InsufficientStock { .. } => Problem::new(StatusCode::CONFLICT, "insufficient-stock", detail),
        InventoryError::HoldNotActive { .. } => Problem::new(StatusCode::CONFLICT, "hold-not-active", detail),
        InventoryError::LimitExceeded { .. } => Problem::new(StatusCode::CONFLICT, "limit-exceeded", detail),
        InventoryError::ReservationNotFound { .. } => Problem::not_found(detail),
        InventoryError::IdempotencyConflict { .. }
        | InventoryError::ShipExceedsCommitted { .. }
        | InventoryError::ReturnExceedsCommitted { .. }
        | InventoryError::DealUnitsShort { .. }
        | InventoryError::OnHandBelowAllocated { .. } => Problem::new(StatusCode::CONFLICT, "conflict", detail),
        InventoryError::InvalidQuantity | InventoryError::InvalidTtl | InventoryError::Overflow => {
            Problem::invalid(detail)
        }
    }
}

fn checkout(rejection: CheckoutError, detail: String) -> Problem {
    match rejection {
        CheckoutError::EmptyCart | CheckoutError::TooManyLines | CheckoutError::NoPaymentMethod => {
            Problem::invalid(detail)
        }
        CheckoutError::Pricing(
            PricingError::UnknownJurisdiction { .. } | PricingError::UnknownShippingOption { .. },
        ) => Problem::invalid(detail),
        CheckoutError::Pricing(_) => Problem::invalid(detail),
        // A skipped step is a request out of order for the resource's state.
        CheckoutError::StepSkipped { .. } | CheckoutError::AlreadyPlaced | CheckoutError::Unavailable { .. } => {
            Problem::new(StatusCode::CONFLICT, "conflict", detail)
        }
    }
}

fn payment(rejection: PaymentError, detail: String) -> Problem {
    match rejection {
        PaymentError::Declined { .. } | PaymentError::InsufficientGiftCardBalance { .. } => {
            Problem::new(StatusCode::PAYMENT_REQUIRED, "payment-declined", detail)
        }
        PaymentError::UnknownCard { .. } | PaymentError::UnknownGiftCard { .. } | PaymentError::NoPaymentMethod => {
            Problem::invalid(detail)
        }
        PaymentError::UnknownAuthorization { .. } | PaymentError::CardNotFound { .. } => Problem::not_found(detail),
        PaymentError::InvalidAmount { .. } | PaymentError::Money(_) => Problem::invalid(detail),
        PaymentError::ReferenceReused { .. }
        | PaymentError::InvalidTransition { .. }
        | PaymentError::RefundExceedsCaptured { .. }
        | PaymentError::GiftCardExists { .. } => Problem::new(StatusCode::CONFLICT, "conflict", detail),
    }
}

fn order(rejection: OrderError, detail: String) -> Problem {
    match rejection {
        OrderError::InvalidTransition { .. } => Problem::new(StatusCode::CONFLICT, "conflict", detail),
        OrderError::InvalidReturn { .. } => Problem::invalid(detail),
        OrderError::NoLines | OrderError::TotalsMismatch { .. } | OrderError::Money(_) => Problem::invalid(detail),
    }
}

fn catalog(rejection: CatalogError, detail: String) -> Problem {
    match rejection {
        CatalogError::Invalid { .. } | CatalogError::DuplicateSku { .. } | CatalogError::UnknownVariant { .. } => {
            Problem::invalid(detail)
        }
        CatalogError::ProductNotFound { .. } | CatalogError::SkuNotFound { .. } => Problem::not_found(detail),
        CatalogError::ProductExists { .. } | CatalogError::SkuTaken { .. } => {
            Problem::new(StatusCode::CONFLICT, "conflict", detail)
        }
    }
}

fn deal(rejection: DealError, detail: String) -> Problem {
    match rejection {
        DealError::NotActive | DealError::PrimeOnly { .. } => {
            Problem::new(StatusCode::CONFLICT, "deal-not-active", detail)
        }
        DealError::LimitExceeded { .. } => Problem::new(StatusCode::CONFLICT, "limit-exceeded", detail),
        DealError::SoldOut => Problem::new(StatusCode::CONFLICT, "sold-out", detail),
        DealError::ClaimNotFound { .. } => Problem::not_found(detail),
        DealError::ClaimNotActive { .. } => Problem::new(StatusCode::CONFLICT, "hold-not-active", detail),
        DealError::IdempotencyConflict { .. } | DealError::NotSoldOut => {
            Problem::new(StatusCode::CONFLICT, "conflict", detail)
        }
        DealError::Invalid { .. } => Problem::invalid(detail),
    }
}

/// When a sign-in refused for busy hashers may come back.
const HASH_RETRY_AFTER_MS: u64 = 1_000;

fn customer(rejection: CustomerError, detail: String) -> Problem {
    match rejection {
        CustomerError::InvalidEmail(_) | CustomerError::InvalidPassword | CustomerError::InvalidName => {
            Problem::invalid(detail)
        }
        CustomerError::EmailTaken | CustomerError::MembershipActive => {
            Problem::new(StatusCode::CONFLICT, "conflict", detail)
        }
        CustomerError::NoMembership => Problem::not_found(detail),
        CustomerError::BadCredentials => Problem::unauthorized(detail),
        CustomerError::NotFound(_) => Problem::not_found(detail),
        CustomerError::LockedOut { retry_after_ms } => Problem::rate_limited(detail, retry_after_ms),
        CustomerError::Busy => Problem::rate_limited(detail, HASH_RETRY_AFTER_MS),
    }
}

fn cart(rejection: CartError, detail: String) -> Problem {
    match rejection {
        CartError::InvalidQuantity { .. } => Problem::invalid(detail),
        CartError::LineQuantityExceeded { .. } | CartError::TooManyLines { .. } => {
            Problem::new(StatusCode::CONFLICT, "limit-exceeded", detail)
        }
        CartError::LineNotFound { .. } => Problem::not_found(detail),
    }
}

/// Turns every rejection into a problem response.
pub async fn recover(rejection: Rejection) -> Result<Problem, Infallible> {
    if let Some(problem) = rejection.find::<Problem>() {
        return Ok(problem.clone());
    }
    if rejection.is_not_found() {
        return Ok(Problem::not_found("no such route"));
    }
    if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        return Ok(Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "the body is larger than allowed"));
    }
    if rejection.find::<warp::reject::LengthRequired>().is_some() {
        return Ok(Problem::new(StatusCode::LENGTH_REQUIRED, "invalid-input", "a Content-Length header is required"));
    }
    if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        return Ok(Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "method not allowed on this route",
        ));
    }
    if let Some(err) = rejection.find::<warp::reject::InvalidQuery>() {
        return Ok(Problem::invalid(err.to_string()));
    }
    if let Some(err) = rejection.find::<warp::reject::InvalidHeader>() {
        return Ok(Problem::malformed(err.to_string()));
    }
    if let Some(err) = rejection.find::<warp::reject::MissingHeader>() {
        return Ok(Problem::malformed(err.to_string()));
    }
    tracing::warn!(?rejection, "unhandled rejection");
    Ok(Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error"))
}
