//! Search routes: `GET /v1/search` and `GET /v1/suggest` (API.md, Search),
//! and `POST /v1/admin/search/rebuild`.
//! Parameters are parsed here (bad ones are 422 `invalid-input`); the query
//! itself runs on a query thread, off the async workers (see
//! [`crate::pool`]); when too many wait, 429 `rate-limited`.

use super::error::Problem;
use super::route::{query_param, route_path, Content, RawQuery, Route, RouteFilter, Routes};
use super::AppState;
use crate::pool::PoolError;
use crate::search::facets::Filters;
use crate::search::{Facets, Hit, SearchError, SearchRequest, Sort, Suggestion};
use serde::Serialize;
use std::time::Instant;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use warp::Reply;

/// Completions returned by suggest.
const SUGGEST_LIMIT: usize = 10;
/// `Retry-After` when every query thread is busy and the queue is full.
const QUERY_RETRY_AFTER_MS: u64 = 1_000;

pub fn routes() -> Routes<impl RouteFilter> {
    Route::get(route_path!("v1" / "search"))
        .tag("search")
        .input::<RawQuery<SearchQuery>>()
        .responds(200, "hits, exact total, disjunctive facets, did_you_mean", Content::json::<SearchBody>())
        .problem(422, "invalid-input")
        .problem(429, "rate-limited: every query thread is busy and the queue is full (with Retry-After)")
        .to(|state, (), (), raw| search(state, raw))
        .or(Route::get(route_path!("v1" / "suggest"))
            .tag("search")
            .input::<RawQuery<SuggestQuery>>()
            .responds(200, "at most 10 completions", Content::json::<SuggestBody>())
            .to(|state, (), (), raw| suggest(state, raw)))
        .or(Route::post(route_path!("v1" / "admin" / "search" / "rebuild"))
            .tag("search")
            .admin()
            .responds(
                202,
                "the index is rebuilt from the event log in the background (searches answer from the refilling index; progress is mercato_projection_lag_events on /metrics)",
                Content::json::<RebuildBody>(),
            )
            .problem(401, "unauthorized")
            .problem(403, "forbidden")
            .problem(503, "shutting-down")
            .to(|state, _, (), ()| rebuild(state)))
}

/// The parameters of `GET /v1/search`, as [`parse_request`] reads them.
pub struct SearchQuery;

impl IntoParams for SearchQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query_param::<String>("q", false, "words; empty browses everything matching the filters"),
            query_param::<String>("category", false, "category path prefix, e.g. Electronics/Audio"),
            query_param::<Vec<String>>("brand", false, "any of these brands (repeat the parameter)"),
            query_param::<i64>("price_min", false, "lowest price in cents (inclusive)"),
            query_param::<i64>("price_max", false, "highest price in cents (inclusive)"),
            query_param::<f64>("rating_min", false, "minimum rating"),
            query_param::<bool>("in_stock", false, "only products with a variant available"),
            query_param::<String>("sort", false, "relevance, price_asc, price_desc, rating, newest or popularity"),
            query_param::<u32>("page", false, "1-based page"),
            query_param::<u32>("per_page", false, "1..=100, default 20"),
        ]
    }
}

/// The parameter of `GET /v1/suggest`.
pub struct SuggestQuery;

impl IntoParams for SuggestQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query_param::<String>("q", true, "the partial query, as typed")]
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RebuildBody {
    /// `rebuilding`: the index is being refilled from the event log.
    pub status: &'static str,
    /// The event the index reflected when the rebuild was asked for.
    pub from_offset: u64,
}

async fn rebuild(state: AppState) -> Result<impl Reply, Problem> {
    let from_offset = state.mercato.search().offset();
    if !state.mercato.search().rebuild() {
        return Err(crate::Error::ShuttingDown.into());
    }
    let body = RebuildBody { status: "rebuilding", from_offset };
    Ok(warp::reply::with_status(warp::reply::json(&body), warp::http::StatusCode::ACCEPTED))
}

/// The body of a search response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchBody {
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    pub took_ms: u64,
    pub hits: Vec<Hit>,
    pub facets: Facets,
    pub did_you_mean: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SuggestBody {
    pub suggestions: Vec<Suggestion>,
}

fn parse_number<T: std::str::FromStr>(name: &str, raw: &str) -> Result<T, Problem> {
    raw.trim().parse().map_err(|_| Problem::invalid(format!("{name}: {raw:?} is not a valid number")))
}

/// Parses the query string of `GET /v1/search`. Empty values count as
/// absent; unknown parameters are ignored.
pub fn parse_request(raw: &str) -> Result<SearchRequest, Problem> {
    let mut request = SearchRequest::default();
    let mut filters = Filters::default();
    for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
        if value.is_empty() && key != "q" {
            continue;
        }
        match key.as_ref() {
            "q" => request.q = value.into_owned(),
            "category" => filters.category = Some(SearchRequest::parse_category(&value).map_err(problem)?),
            "brand" => filters.brands.push(value.trim().to_owned()),
            "price_min" => filters.price_min_cents = Some(parse_number("price_min", &value)?),
            "price_max" => filters.price_max_cents = Some(parse_number("price_max", &value)?),
            "rating_min" => {
                let rating: f64 = parse_number("rating_min", &value)?;
                if !rating.is_finite() {
                    return Err(Problem::invalid("rating_min: must be a finite number"));
                }
                filters.rating_min = Some(rating);
            }
            "in_stock" => {
                filters.in_stock = match value.as_ref() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    other => return Err(Problem::invalid(format!("in_stock: {other:?} is not true or false"))),
                }
            }
            "sort" => request.sort = Sort::parse(&value).map_err(problem)?,
            "page" => request.page = parse_number("page", &value)?,
            "per_page" => request.per_page = parse_number("per_page", &value)?,
            _ => {}
        }
    }
    request.filters = filters;
    request.validate().map_err(problem)?;
    Ok(request)
}

fn problem(err: SearchError) -> Problem {
    Problem::from(crate::Error::Search(err))
}

async fn search(state: AppState, raw: String) -> Result<warp::reply::Response, Problem> {
    let request = parse_request(&raw)?;
    let started = Instant::now();
    let mercato = state.mercato.clone();
    let results = state.queries.run(move || mercato.search().query(&request)).await.map_err(|err| match err {
        PoolError::Full => Problem::rate_limited(err.to_string(), QUERY_RETRY_AFTER_MS),
        PoolError::Failed => Problem::from(crate::Error::Search(SearchError::Index(err.to_string()))),
    })??;
    let took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let body = SearchBody {
        total: results.total,
        page: results.page,
        per_page: results.per_page,
        took_ms,
        hits: results.hits,
        facets: results.facets,
        did_you_mean: results.did_you_mean,
    };
    Ok(warp::reply::json(&body).into_response())
}

async fn suggest(state: AppState, raw: String) -> Result<warp::reply::Response, Problem> {
    let q = form_urlencoded::parse(raw.as_bytes())
        .find(|(key, _)| key == "q")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let suggestions = state.mercato.search().suggest(&q, SUGGEST_LIMIT);
    Ok(warp::reply::json(&SuggestBody { suggestions }).into_response())
}
