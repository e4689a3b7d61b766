//! Catalog routes: bulk NDJSON import, create, read with live availability,
//! partial update, and the category tree.

use super::error::Problem;
use super::product_dto::{ParsedProduct, PatchBody, ProductBody, ProductView};
use super::route::{route_path, Content, Input, Route, RouteFilter, Routes, Schemas};
use super::{AppState, Caller};
use crate::engine::ProductId;
use crate::engine::SellerId;
use crate::StockUpdate;
use bytes::Bytes;
use serde::Serialize;
use std::future::ready;
use utoipa::openapi::path::OperationBuilder;
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{ContentBuilder, Required};
use utoipa::PartialSchema;
use warp::http::StatusCode;
use warp::{Filter, Rejection, Reply};

/// Largest NDJSON import accepted (API.md: 256 MiB).
pub const IMPORT_BODY_BYTES_MAX: u64 = 256 << 20;
/// Products sent to the catalog actor per message during an import.
const IMPORT_CHUNK: usize = 1_000;

pub fn routes() -> Routes<impl RouteFilter> {
    Route::post(route_path!("v1" / "admin" / "catalog" / "import"))
        .tag("catalog")
        .summary("Imports NDJSON: a bad line is reported with its 1-based number, the good\nlines land (an existing id is replaced).")
        .admin()
        .input::<Ndjson>()
        .responds(200, "imported count and bad lines by number", Content::json::<ImportReport>())
        .problem(413, "payload-too-large")
        .to(|state, _, (), body| import(state, body))
        .or(Route::post(route_path!("v1" / "products"))
            .tag("catalog")
            .signed_in()
            .json::<ProductBody>()
            .idempotent("retry safely: the first response is replayed for 24 h")
            .responds(201, "the product with live availability", Content::json::<ProductView>())
            .problem(409, "conflict")
            .problem(422, "invalid-input")
            .problem(403, "forbidden: not the admin or a seller, or a seller sending rating, review_count or sponsored")
            .to(|state, caller, (), body| create(state, caller, body)))
        .or(Route::get(route_path!("v1" / "products" / {id}))
            .tag("catalog")
            .responds(200, "the product with live availability", Content::json::<ProductView>())
            .problem(404, "not-found")
            .to(|state, (), (id,), ()| ready(read(state, id))))
        .or(Route::patch(route_path!("v1" / "products" / {id}))
            .tag("catalog")
            .signed_in()
            .json::<PatchBody>()
            .responds(200, "the updated product", Content::json::<ProductView>())
            .problem(
                403,
                "forbidden: not the admin or the owning seller, or a seller sending rating, review_count or sponsored",
            )
            .problem(404, "not-found")
            .problem(422, "invalid-input")
            .to(|state, caller, (id,), body| patch(state, caller, id, body)))
        .or(Route::get(route_path!("v1" / "categories"))
            .tag("catalog")
            .responds(
                200,
                "{\"items\": [{\"name\", \"path\", \"product_count\", \"children\"}]}; counts include subcategories",
                Content::Unspecified,
            )
            .to(|state, (), (), ()| ready(Ok::<_, Problem>(categories(state)))))
}

/// The body of an import: NDJSON of at most [`IMPORT_BODY_BYTES_MAX`],
/// taken whole (each line is parsed on its own).
struct Ndjson;

impl Input for Ndjson {
    type Value = Bytes;

    fn filter() -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone + Send + Sync + 'static {
        warp::body::content_length_limit(IMPORT_BODY_BYTES_MAX).and(warp::body::bytes())
    }

    fn filter_raw() -> impl Filter<Extract = (Bytes, Bytes), Error = Rejection> + Clone + Send + Sync + 'static {
        Ndjson::filter().map(|body: Bytes| (body.clone(), body)).untuple_one()
    }

    fn document(operation: OperationBuilder, _: &mut Schemas) -> OperationBuilder {
        let body = RequestBodyBuilder::new()
            .description(Some("one product per line"))
            .content("application/x-ndjson", ContentBuilder::new().schema(Some(String::schema())).build())
            .required(Some(Required::True))
            .build();
        operation.request_body(Some(body))
    }
}

fn categories(state: AppState) -> warp::reply::Response {
    warp::reply::json(&serde_json::json!({"items": *state.mercato.catalog().category_tree()})).into_response()
}

fn view(state: &AppState, product: &crate::engine::Product) -> ProductView {
    ProductView::new(product, |sku| state.mercato.inventory().available(sku))
}

fn product_id(raw: &str) -> Result<ProductId, Problem> {
    ProductId::parse(raw).map_err(|_| Problem::not_found(format!("product {raw} not found")))
}

/// Checks that every warehouse a product stocks exists.
fn check_warehouses(state: &AppState, parsed: &ParsedProduct) -> Result<(), Problem> {
    match parsed.stock.iter().find(|(bucket, _)| state.mercato.inventory().warehouse(&bucket.warehouse).is_none()) {
        Some((bucket, _)) => {
            Err(Problem::invalid(format!("stock.warehouse: warehouse {} not found", bucket.warehouse)))
        }
        None => Ok(()),
    }
}

async fn apply_stock(state: &AppState, parsed_stock: Vec<(crate::engine::BucketKey, u64)>) -> Result<(), Problem> {
    let inventory = state.mercato.inventory();
    let updates =
        parsed_stock.into_iter().map(|(bucket, quantity)| inventory.set_stock(bucket, StockUpdate::on_hand(quantity)));
    for result in futures::future::join_all(updates).await {
        result?;
    }
    Ok(())
}

/// The seller a caller may act for: `None` for the admin (any seller), the
/// linked seller for a seller, 403 for anyone else.
fn acting_seller(state: &AppState, caller: &Caller) -> Result<Option<SellerId>, Problem> {
    match caller {
        Caller::Admin => Ok(None),
        Caller::Customer(customer) => match state.mercato.customers().seller_of(&customer.id) {
            Some(seller) => Ok(Some(seller)),
            None => Err(forbidden("only the admin or a seller may change the catalog")),
        },
    }
}

fn forbidden(detail: &str) -> Problem {
    Problem::new(StatusCode::FORBIDDEN, "forbidden", detail)
}

/// The ranking fields (`rating`, `review_count`, `sponsored`) are the
/// admin's: a seller who sends any of them, on create or on PATCH, is
/// refused as a whole (403), so nothing changes.
const RANKING_FIELDS_ADMIN_ONLY: &str = "rating, review_count and sponsored are set only by the admin";

async fn create(state: AppState, caller: Caller, body: ProductBody) -> Result<impl Reply, Problem> {
    let seller = acting_seller(&state, &caller)?;
    if seller.is_some() && (body.rating.is_some() || body.review_count != 0 || body.sponsored) {
        return Err(forbidden(RANKING_FIELDS_ADMIN_ONLY));
    }
    if let (Some(seller), Some(asked)) = (&seller, &body.seller_id) {
        if asked != seller.as_str() {
            return Err(forbidden("a seller creates products under its own seller_id"));
        }
    }
    let mut parsed = body.parse()?;
    if let Some(seller) = seller {
        parsed.draft.seller_id = seller;
    }
    check_warehouses(&state, &parsed)?;
    let product = state.mercato.catalog().create_product(parsed.draft).await?;
    apply_stock(&state, parsed.stock).await?;
    Ok(warp::reply::with_status(warp::reply::json(&view(&state, &product)), StatusCode::CREATED))
}

fn read(state: AppState, id: String) -> Result<impl Reply, Problem> {
    let id = product_id(&id)?;
    let product =
        state.mercato.catalog().product(&id).ok_or_else(|| Problem::not_found(format!("product {id} not found")))?;
    Ok(warp::reply::json(&view(&state, &product)))
}

async fn patch(state: AppState, caller: Caller, id: String, body: PatchBody) -> Result<impl Reply, Problem> {
    let id = product_id(&id)?;
    let seller = acting_seller(&state, &caller)?;
    if seller.is_some() && (body.rating.is_some() || body.review_count.is_some() || body.sponsored.is_some()) {
        return Err(forbidden(RANKING_FIELDS_ADMIN_ONLY));
    }
    let patch = body.parse()?;
    if let Some(seller) = seller {
        let owner = state.mercato.catalog().product(&id).map(|product| product.seller_id.clone());
        let Some(owner) = owner else { return Err(Problem::not_found(format!("product {id} not found"))) };
        if owner != seller || patch.seller_id.as_ref().is_some_and(|to| *to != seller) {
            return Err(forbidden("a seller may change only its own products"));
        }
    }
    let product = state.mercato.catalog().patch_product(id, patch).await?;
    Ok(warp::reply::json(&view(&state, &product)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ImportError {
    line: usize,
    detail: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ImportReport {
    imported: usize,
    errors: Vec<ImportError>,
}

/// Imports NDJSON: a bad line is reported with its 1-based number, the good
/// lines land (an existing id is replaced).
async fn import(state: AppState, body: Bytes) -> Result<impl Reply, Problem> {
    let text = std::str::from_utf8(&body).map_err(|err| Problem::malformed(format!("the body is not UTF-8: {err}")))?;
    let mut report = ImportReport { imported: 0, errors: Vec::new() };
    let mut pending: Vec<(usize, ParsedProduct)> = Vec::with_capacity(IMPORT_CHUNK);
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = serde_json::from_str::<ProductBody>(line)
            .map_err(|err| Problem::malformed(err.to_string()))
            .and_then(ProductBody::parse)
            .and_then(|parsed| check_warehouses(&state, &parsed).map(|()| parsed));
        match parsed {
            Ok(parsed) => pending.push((index + 1, parsed)),
            Err(problem) => report.errors.push(ImportError { line: index + 1, detail: problem.detail }),
        }
        if pending.len() == IMPORT_CHUNK {
            import_chunk(&state, std::mem::take(&mut pending), &mut report).await?;
        }
    }
    import_chunk(&state, pending, &mut report).await?;
    report.errors.sort_by_key(|error| error.line);
    Ok(warp::reply::json(&report))
}

async fn import_chunk(
    state: &AppState,
    chunk: Vec<(usize, ParsedProduct)>,
    report: &mut ImportReport,
) -> Result<(), Problem> {
    if chunk.is_empty() {
        return Ok(());
    }
    let (lines, parsed): (Vec<usize>, Vec<ParsedProduct>) = chunk.into_iter().unzip();
    let (drafts, stocks): (Vec<_>, Vec<_>) = parsed.into_iter().map(|parsed| (parsed.draft, parsed.stock)).unzip();
    let results = state.mercato.catalog().upsert_products(drafts).await?;
    for ((line, result), stock) in lines.into_iter().zip(results).zip(stocks) {
        match result {
            Ok(_) => {
                apply_stock(state, stock).await?;
                report.imported += 1;
            }
            Err(err) => report.errors.push(ImportError { line, detail: err.to_string() }),
        }
    }
    Ok(())
}
