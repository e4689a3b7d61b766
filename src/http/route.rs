//! The route builder: one declaration per route gives its method, path
//! template, principal, input (body or query), responses and problems, and
//! its action; both the warp filter that serves the route and its OpenAPI
//! operation come from that one declaration, so a route cannot be served
//! undocumented, nor documented otherwise than it is served.
//!
//! ```ignore
//! Route::post(route_path!("v1" / "carts" / {id} / "items"))
//!     .tag("carts")
//!     .guest()
//!     .json::<AddItemBody>()
//!     .responds(200, "the cart", Content::json::<CartView>())
//!     .problem(404, "not-found")
//!     .to(|state, caller, (id,), body| add(state, caller, id, body))
//! ```
//!
//! The method, principal, input and idempotency are types, so the filter
//! they build is the same chain of warp filters a route spelled out by hand
//! would be (path, method, state, principal, input, action), capturing
//! nothing but an idempotent route's template: warp copies every filter it
//! may try on every request (see [`with_state`]), and these copies stay as
//! small as they were.

use super::error::{Problem, ProblemBody};
use super::{admin, client_addr, idempotency, json_body, json_body_raw, maybe_signed_in, respond, signed_in};
use super::{with_state, AppState, Caller};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use utoipa::openapi::path::{
    HttpMethod, Operation as OpenApiOperation, OperationBuilder, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder, Schema};
use utoipa::{PartialSchema, ToSchema};
use warp::{Filter, Rejection, Reply};

/// Component schemas an operation refers to, by name.
pub type Schemas = Vec<(String, RefOr<Schema>)>;

/// What a finished route is: a filter that answers every request it
/// matches, or rejects it for the next route to try.
pub trait RouteFilter:
    Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + Send + Sync + 'static
{
}

impl<F> RouteFilter for F where
    F: Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone + Send + Sync + 'static
{
}

/// A path template and the warp filter that matches it, from one spelling
/// (made by [`route_path!`](crate::http::route::route_path)).
pub struct Path<F> {
    filter: F,
    template: &'static str,
}

impl<F> Path<F> {
    /// Only [`route_path!`](crate::http::route::route_path) pairs a filter with its
    /// template: anything else could pair two that disagree.
    #[doc(hidden)]
    pub fn new(filter: F, template: &'static str) -> Self {
        Path { filter, template }
    }

    /// The OpenAPI template, e.g. `/v1/carts/{id}/items`.
    pub fn template(&self) -> &'static str {
        self.template
    }
}

/// A path from its segments: literals match themselves, `{name}` matches
/// any one segment and hands it to the action. `route_path!("v1" / "carts" /
/// {id} / "items")` matches `/v1/carts/<id>/items` (the path ends there),
/// extracts `(id,)` as a `(String,)`, and is documented as
/// `/v1/carts/{id}/items` with the path parameter `id`.
///
/// The matching is warp's own `path!` (a zero-sized filter per literal), so
/// a route costs what it did when spelled out by hand.
macro_rules! route_path {
    (@munch [$($warp:tt)*] [$($name:ident)*] [$($template:tt)*] { $param:ident } $(/ $rest:tt)*) => {
        $crate::http::route::route_path!(
            @munch [$($warp)* / String] [$($name)* $param] [$($template)* "/{", stringify!($param), "}",] $($rest)/ *
        )
    };
    (@munch [$($warp:tt)*] [$($name:ident)*] [$($template:tt)*] $literal:literal $(/ $rest:tt)*) => {
        $crate::http::route::route_path!(
            @munch [$($warp)* / $literal] [$($name)*] [$($template)* "/", $literal,] $($rest)/ *
        )
    };
    (@munch [/ $($warp:tt)*] [$($name:ident)*] [$($template:tt)*]) => {
        $crate::http::route::Path::new(
            ::warp::Filter::map(::warp::path!($($warp)*), |$($name: String),*| ($($name,)*)),
            concat!($($template)*),
        )
    };
    ($($segment:tt)/+) => {
        $crate::http::route::route_path!(@munch [] [] [] $($segment)/+)
    };
}
pub(crate) use route_path;

/// The values of a path's `{name}` segments, in order.
pub trait Params: Send + 'static {
    fn value(&self, index: usize) -> Option<&str>;
}

impl Params for () {
    fn value(&self, _: usize) -> Option<&str> {
        None
    }
}

impl Params for (String,) {
    fn value(&self, index: usize) -> Option<&str> {
        match index {
            0 => Some(&self.0),
            _ => None,
        }
    }
}

impl Params for (String, String) {
    fn value(&self, index: usize) -> Option<&str> {
        match index {
            0 => Some(&self.0),
            1 => Some(&self.1),
            _ => None,
        }
    }
}

/// The names of a template's `{name}` segments, in order.
fn param_names(template: &str) -> impl Iterator<Item = &str> {
    template.split('/').filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// `METHOD /the/path` with the request's values in place of the template's
/// `{name}` segments: the route an idempotency key is scoped to.
fn route_name(method: &str, template: &str, params: &impl Params) -> String {
    let mut name = String::with_capacity(method.len() + 1 + template.len() + 32);
    name.push_str(method);
    name.push(' ');
    let mut index = 0;
    for segment in template.split('/').skip(1) {
        name.push('/');
        if segment.starts_with('{') {
            name.push_str(params.value(index).unwrap_or(segment));
            index += 1;
        } else {
            name.push_str(segment);
        }
    }
    name
}

/// A filter that cannot fail, as one that rejects: the builder joins filters
/// of one error type.
fn fallible<T: Send + 'static>(
    filter: impl Filter<Extract = (T,), Error = Infallible> + Clone + Send + Sync + 'static,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone + Send + Sync + 'static {
    filter.and_then(|value: T| std::future::ready(Ok::<T, Rejection>(value)))
}

/// An HTTP method, as a type.
pub trait Verb: 'static {
    const METHOD: HttpMethod;
    /// As it is written in a request line.
    const NAME: &'static str;
    fn filter() -> impl Filter<Extract = (), Error = Rejection> + Copy + Send + Sync + 'static;
}

/// Declares a [`Verb`]: its type, OpenAPI method, request-line name and
/// warp filter.
macro_rules! verb {
    ($($verb:ident: $method:ident, $name:literal, $filter:path;)*) => {$(
        pub struct $verb;

        impl Verb for $verb {
            const METHOD: HttpMethod = HttpMethod::$method;
            const NAME: &'static str = $name;
            fn filter() -> impl Filter<Extract = (), Error = Rejection> + Copy + Send + Sync + 'static {
                $filter()
            }
        }
    )*};
}

verb! {
    Get: Get, "GET", warp::get;
    Post: Post, "POST", warp::post;
    Put: Put, "PUT", warp::put;
    Patch: Patch, "PATCH", warp::patch;
    Delete: Delete, "DELETE", warp::delete;
}

/// How a principal shows in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// No token is read.
    None,
    /// A token is optional, but one that is given must be valid.
    Optional,
    /// A valid bearer token is required.
    Bearer,
}

/// Who may call a route, and what the action is told about them.
pub trait Principal: 'static {
    type Who: Send + 'static;
    const SECURITY: Security;
    fn filter() -> impl Filter<Extract = (Self::Who,), Error = Rejection> + Clone + Send + Sync + 'static;

    /// Who an `Idempotency-Key` belongs to: the admin or the customer
    /// (every session of a customer alike); `None` for an anonymous call,
    /// which the client address scopes.
    fn principal(_who: &Self::Who) -> Option<String> {
        None
    }
}

/// Anyone: no token is read; the action gets `()`.
pub struct Anyone;
/// A guest or a signed-in customer ([`maybe_signed_in`]).
pub struct Guest;
/// The admin or a customer with a valid token ([`signed_in`]).
pub struct SignedIn;
/// The admin token only ([`admin`]; a customer's token is 403).
pub struct Admin;

impl Principal for Anyone {
    type Who = ();
    const SECURITY: Security = Security::None;
    fn filter() -> impl Filter<Extract = ((),), Error = Rejection> + Clone + Send + Sync + 'static {
        fallible(warp::any().map(|| ()))
    }
}

impl Principal for Guest {
    type Who = Option<Caller>;
    const SECURITY: Security = Security::Optional;
    fn filter() -> impl Filter<Extract = (Option<Caller>,), Error = Rejection> + Clone + Send + Sync + 'static {
        maybe_signed_in()
    }

    fn principal(who: &Option<Caller>) -> Option<String> {
        who.as_ref().map(Caller::principal)
    }
}

impl Principal for SignedIn {
    type Who = Caller;
    const SECURITY: Security = Security::Bearer;
    fn filter() -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone + Send + Sync + 'static {
        signed_in()
    }

    fn principal(who: &Caller) -> Option<String> {
        Some(who.principal())
    }
}

impl Principal for Admin {
    type Who = Caller;
    const SECURITY: Security = Security::Bearer;
    fn filter() -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone + Send + Sync + 'static {
        admin()
    }

    fn principal(who: &Caller) -> Option<String> {
        Some(who.principal())
    }
}

/// What an action reads from the request besides its path and its caller:
/// nothing (`()`), a JSON body ([`Json`]), a query ([`Query`], [`RawQuery`]),
/// and so on; each documents itself.
pub trait Input: 'static {
    type Value: Send + 'static;
    fn filter() -> impl Filter<Extract = (Self::Value,), Error = Rejection> + Clone + Send + Sync + 'static;
    /// The value and the raw body, which an idempotent route digests to
    /// tell a retry from another request under the same key.
    fn filter_raw() -> impl Filter<Extract = (Self::Value, Bytes), Error = Rejection> + Clone + Send + Sync + 'static;
    /// Adds the request body or parameters to the operation.
    fn document(operation: OperationBuilder, schemas: &mut Schemas) -> OperationBuilder;
    /// The problems reading this input can answer, whatever the action.
    const REJECTS: &'static [(u16, &'static str)] = &[];
}

/// What reading a JSON body can answer (see [`json_body`]).
const JSON_REJECTS: &[(u16, &str)] = &[
    (400, "invalid-input: the body is not well-formed JSON, or has wrong types or unknown fields"),
    (413, "payload-too-large: the body is over 1 MiB"),
    (415, "unsupported-media-type: the body is declared as something else than JSON"),
    (422, "invalid-input: a value is invalid"),
];

/// What reading a query can answer.
const QUERY_REJECTS: &[(u16, &str)] = &[(422, "invalid-input: a query parameter is malformed or out of range")];

/// No input: the action gets `()`.
impl Input for () {
    type Value = ();

    fn filter() -> impl Filter<Extract = ((),), Error = Rejection> + Clone + Send + Sync + 'static {
        fallible(warp::any().map(|| ()))
    }

    fn filter_raw() -> impl Filter<Extract = ((), Bytes), Error = Rejection> + Clone + Send + Sync + 'static {
        fallible(warp::any().map(|| ((), Bytes::new()))).untuple_one()
    }

    fn document(operation: OperationBuilder, _: &mut Schemas) -> OperationBuilder {
        operation
    }
}

/// A JSON body of at most 1 MiB, parsed strictly (see [`json_body`]).
pub struct Json<T>(PhantomData<fn() -> T>);

impl<T: DeserializeOwned + ToSchema + Send + 'static> Input for Json<T> {
    type Value = T;

    fn filter() -> impl Filter<Extract = (T,), Error = Rejection> + Clone + Send + Sync + 'static {
        json_body::<T>()
    }

    fn filter_raw() -> impl Filter<Extract = (T, Bytes), Error = Rejection> + Clone + Send + Sync + 'static {
        json_body_raw::<T>()
    }

    fn document(operation: OperationBuilder, schemas: &mut Schemas) -> OperationBuilder {
        let body = RequestBodyBuilder::new()
            .content("application/json", ContentBuilder::new().schema(Some(component::<T>(schemas))).build())
            .required(Some(Required::True))
            .build();
        operation.request_body(Some(body))
    }

    const REJECTS: &'static [(u16, &'static str)] = JSON_REJECTS;
}

/// Query parameters deserialized into `T` (a malformed query is 422
/// `invalid-input`, see `error::recover`), documented by `T`.
pub struct Query<T>(PhantomData<fn() -> T>);

impl<T: DeserializeOwned + utoipa::IntoParams + Send + 'static> Input for Query<T> {
    type Value = T;

    fn filter() -> impl Filter<Extract = (T,), Error = Rejection> + Clone + Send + Sync + 'static {
        warp::query::<T>()
    }

    fn filter_raw() -> impl Filter<Extract = (T, Bytes), Error = Rejection> + Clone + Send + Sync + 'static {
        warp::query::<T>().map(|query: T| (query, Bytes::new())).untuple_one()
    }

    fn document(operation: OperationBuilder, _: &mut Schemas) -> OperationBuilder {
        operation.parameters(Some(T::into_params(|| Some(ParameterIn::Query))))
    }

    const REJECTS: &'static [(u16, &'static str)] = QUERY_REJECTS;
}

/// The raw query string (empty when there is none), for an action that
/// parses it itself; `T` documents its parameters.
pub struct RawQuery<T>(PhantomData<fn() -> T>);

/// The raw query string, empty when there is none.
fn raw_query() -> impl Filter<Extract = (String,), Error = Infallible> + Clone + Send + Sync + 'static {
    warp::query::raw().or(warp::any().map(String::new)).unify()
}

impl<T: utoipa::IntoParams + 'static> Input for RawQuery<T> {
    type Value = String;

    fn filter() -> impl Filter<Extract = (String,), Error = Rejection> + Clone + Send + Sync + 'static {
        fallible(raw_query())
    }

    fn filter_raw() -> impl Filter<Extract = (String, Bytes), Error = Rejection> + Clone + Send + Sync + 'static {
        fallible(raw_query().map(|query: String| (query, Bytes::new()))).untuple_one()
    }

    fn document(operation: OperationBuilder, _: &mut Schemas) -> OperationBuilder {
        operation.parameters(Some(T::into_params(|| Some(ParameterIn::Query))))
    }

    const REJECTS: &'static [(u16, &'static str)] = QUERY_REJECTS;
}

/// The bearer token the request came with (sign-out ends its session);
/// a request without one is 401.
pub struct Bearer;

impl Input for Bearer {
    type Value = String;

    fn filter() -> impl Filter<Extract = (String,), Error = Rejection> + Clone + Send + Sync + 'static {
        MaybeBearer::filter().and_then(|token: Option<String>| async move {
            token.ok_or_else(|| warp::reject::custom(Problem::unauthorized("missing bearer token")))
        })
    }

    fn filter_raw() -> impl Filter<Extract = (String, Bytes), Error = Rejection> + Clone + Send + Sync + 'static {
        Self::filter().map(|token: String| (token, Bytes::new())).untuple_one()
    }

    fn document(operation: OperationBuilder, _: &mut Schemas) -> OperationBuilder {
        operation
    }

    const REJECTS: &'static [(u16, &'static str)] = &[(401, "unauthorized: no bearer token")];
}

/// The bearer token, if the request came with one (a route that decides
/// itself whether it needs one, such as `/metrics`).
pub struct MaybeBearer;

impl Input for MaybeBearer {
    type Value = Option<String>;

    fn filter() -> impl Filter<Extract = (Option<String>,), Error = Rejection> + Clone + Send + Sync + 'static {
        warp::header::optional::<String>("authorization")
            .map(|header: Option<String>| header.as_deref().and_then(super::bearer).map(str::to_owned))
    }

    fn filter_raw() -> impl Filter<Extract = (Option<String>, Bytes), Error = Rejection> + Clone + Send + Sync + 'static
    {
        Self::filter().map(|token: Option<String>| (token, Bytes::new())).untuple_one()
    }

    fn document(operation: OperationBuilder, _: &mut Schemas) -> OperationBuilder {
        operation
    }
}

/// Another input with the client's address (when known) before it.
pub struct FromClient<I>(PhantomData<fn() -> I>);

impl<I: Input> Input for FromClient<I> {
    type Value = (Option<SocketAddr>, I::Value);

    fn filter() -> impl Filter<Extract = (Self::Value,), Error = Rejection> + Clone + Send + Sync + 'static {
        client_addr().and(I::filter()).map(|client: Option<SocketAddr>, value: I::Value| (client, value))
    }

    fn filter_raw() -> impl Filter<Extract = (Self::Value, Bytes), Error = Rejection> + Clone + Send + Sync + 'static {
        client_addr()
            .and(I::filter_raw())
            .map(|client: Option<SocketAddr>, value: I::Value, raw: Bytes| ((client, value), raw))
            .untuple_one()
    }

    fn document(operation: OperationBuilder, schemas: &mut Schemas) -> OperationBuilder {
        I::document(operation, schemas)
    }

    const REJECTS: &'static [(u16, &'static str)] = I::REJECTS;
}

/// A reference to `T`'s component schema, registering it (and the schemas
/// it refers to) in `schemas`.
pub fn component<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    let name = T::name();
    schemas.push((name.to_string(), T::schema()));
    T::schemas(schemas);
    RefOr::Ref(Ref::from_schema_name(name))
}

/// A query parameter of type `T` (its schema is `T`'s, as given).
pub fn query_param<T: PartialSchema>(
    name: &str,
    required: bool,
    description: &str,
) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(if required { Required::True } else { Required::False })
        .description(Some(description))
        .schema(Some(T::schema()))
        .build()
}

/// The body of a documented response.
#[derive(Clone, Copy)]
pub enum Content {
    /// Described in words only.
    Unspecified,
    /// JSON of a component schema.
    Json(fn(&mut Schemas) -> RefOr<Schema>),
    /// Another media type, such as `text/plain`.
    Media(&'static str),
}

impl Content {
    /// JSON of `T`'s schema.
    pub fn json<T: ToSchema>() -> Content {
        Content::Json(component::<T>)
    }
}

struct Answer {
    status: u16,
    description: &'static str,
    content: Answered,
}

enum Answered {
    Content(Content),
    Problem,
}

/// Idempotency, as a type: whether the route runs under `Idempotency-Key`.
pub struct Plain;
/// Runs under `Idempotency-Key` (see [`idempotency`]).
pub struct Idempotent;

/// The type-level parts of a [`Route`] (`fn() -> _`: the route owns none of
/// them, and is `Send` and `Sync` whatever they are).
type Kinds<V, C, I, K> = PhantomData<fn() -> (V, C, I, K)>;

/// One route being declared: its method `V`, path filter `F`, principal
/// `C`, input `I` and idempotency `K` are types; the words of its document
/// are data.
pub struct Route<V, F, C, I, K> {
    path: Path<F>,
    tag: &'static str,
    summary: Option<&'static str>,
    idempotency: Option<&'static str>,
    answers: Vec<Answer>,
    kinds: Kinds<V, C, I, K>,
}

impl<V, F, C, I, K> Route<V, F, C, I, K> {
    fn with<C2, I2, K2>(self) -> Route<V, F, C2, I2, K2> {
        Route {
            path: self.path,
            tag: self.tag,
            summary: self.summary,
            idempotency: self.idempotency,
            answers: self.answers,
            kinds: PhantomData,
        }
    }

    /// The group the operation is listed under.
    pub fn tag(mut self, tag: &'static str) -> Self {
        self.tag = tag;
        self
    }

    pub fn summary(mut self, summary: &'static str) -> Self {
        self.summary = Some(summary);
        self
    }

    /// A guest or a signed-in customer may call it.
    pub fn guest(self) -> Route<V, F, Guest, I, K> {
        self.with()
    }

    /// It needs a valid token, the admin's or a customer's.
    pub fn signed_in(self) -> Route<V, F, SignedIn, I, K> {
        self.with()
    }

    /// It needs the admin token.
    pub fn admin(self) -> Route<V, F, Admin, I, K> {
        self.with()
    }

    /// It takes a JSON body of `T`.
    pub fn json<T>(self) -> Route<V, F, C, Json<T>, K> {
        self.with()
    }

    /// It takes `I2` (a query, another kind of body, ...).
    pub fn input<I2>(self) -> Route<V, F, C, I2, K> {
        self.with()
    }

    /// It runs at most once per `Idempotency-Key`; `description` is the
    /// header's in the document.
    pub fn idempotent(mut self, description: &'static str) -> Route<V, F, C, I, Idempotent> {
        self.idempotency = Some(description);
        self.with()
    }

    /// A response it gives.
    pub fn responds(mut self, status: u16, description: &'static str, content: Content) -> Self {
        self.answers.push(Answer { status, description, content: Answered::Content(content) });
        self
    }

    /// A problem response it gives (`application/problem+json`).
    pub fn problem(mut self, status: u16, description: &'static str) -> Self {
        self.answers.push(Answer { status, description, content: Answered::Problem });
        self
    }
}

impl<F> Route<Get, F, Anyone, (), Plain> {
    pub fn get(path: Path<F>) -> Self {
        Route::new(path)
    }
}

impl<F> Route<Post, F, Anyone, (), Plain> {
    pub fn post(path: Path<F>) -> Self {
        Route::new(path)
    }
}

impl<F> Route<Put, F, Anyone, (), Plain> {
    pub fn put(path: Path<F>) -> Self {
        Route::new(path)
    }
}

impl<F> Route<Patch, F, Anyone, (), Plain> {
    pub fn patch(path: Path<F>) -> Self {
        Route::new(path)
    }
}

impl<F> Route<Delete, F, Anyone, (), Plain> {
    pub fn delete(path: Path<F>) -> Self {
        Route::new(path)
    }
}

impl<V, F> Route<V, F, Anyone, (), Plain> {
    fn new(path: Path<F>) -> Self {
        Route { path, tag: "", summary: None, idempotency: None, answers: Vec::new(), kinds: PhantomData }
    }
}

impl<V: Verb, F, C: Principal, I: Input, K> Route<V, F, C, I, K> {
    /// The route's operation, from its declaration: the path parameters
    /// from the template, the security from the principal, the request
    /// body or query from the input, the header from the idempotency.
    fn document(&self) -> Documented {
        let template = self.path.template;
        let mut schemas = Schemas::new();
        let mut operation = OperationBuilder::new()
            .tag(self.tag)
            .summary(self.summary)
            .operation_id(Some(operation_id(V::NAME, template)));
        for name in param_names(template) {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(String::schema())),
            );
        }
        if let Some(description) = self.idempotency {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(description))
                    .schema(Some(ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])))),
            );
        }
        operation = I::document(operation, &mut schemas);
        let bearer = || SecurityRequirement::new("bearer", Vec::<String>::new());
        operation = match C::SECURITY {
            Security::None => operation,
            Security::Optional => operation.securities(Some([SecurityRequirement::default(), bearer()])),
            Security::Bearer => operation.security(bearer()),
        };
        for answer in self.answers.iter().chain(&self.implied_answers()) {
            let response = ResponseBuilder::new().description(answer.description);
            let response = match answer.content {
                Answered::Content(Content::Unspecified) => response,
                Answered::Content(Content::Json(schema)) => response
                    .content("application/json", ContentBuilder::new().schema(Some(schema(&mut schemas))).build()),
                Answered::Content(Content::Media(media)) => response.content(media, ContentBuilder::new().build()),
                Answered::Problem => response.content(
                    "application/problem+json",
                    ContentBuilder::new().schema(Some(component::<ProblemBody>(&mut schemas))).build(),
                ),
            };
            operation = operation.response(answer.status.to_string(), response.build());
        }
        Documented { method: V::METHOD, name: V::NAME, path: template, operation: operation.build(), schemas }
    }
}

impl<V: Verb, F, C: Principal, I: Input, K> Route<V, F, C, I, K> {
    /// The problems every route of this kind can answer whatever its action
    /// does, which its declaration did not already list: the principal's
    /// 401 and 403, the input's, 404 for a path naming an unknown resource,
    /// and a reused `Idempotency-Key`'s 422.
    fn implied_answers(&self) -> Vec<Answer> {
        let mut implied: Vec<(u16, &'static str)> = Vec::new();
        match C::SECURITY {
            Security::None => {}
            Security::Optional => implied.push((401, "unauthorized: the bearer token is not valid")),
            Security::Bearer => {
                implied.push((401, "unauthorized: no valid bearer token"));
                implied.push((403, "forbidden: the token may not do this (the admin's on a customer's route, a customer's on the admin's)"));
            }
        }
        implied.extend_from_slice(I::REJECTS);
        if param_names(self.path.template).next().is_some() {
            implied.push((404, "not-found: no such resource (or another customer's)"));
        }
        if self.idempotency.is_some() {
            implied.push((422, "idempotency-key-reused: this key came with another body, or the key is malformed"));
        }
        let mut answers: Vec<Answer> = Vec::new();
        for (status, description) in implied {
            let listed = self.answers.iter().chain(&answers).any(|answer| answer.status == status);
            if !listed {
                answers.push(Answer { status, description, content: Answered::Problem });
            }
        }
        answers
    }
}

/// A unique operation id from the method and the template:
/// `post_v1_carts_id_items` for `POST /v1/carts/{id}/items`.
fn operation_id(method: &str, template: &str) -> String {
    let mut id = method.to_ascii_lowercase();
    for segment in template.split('/').filter(|segment| !segment.is_empty()) {
        id.push('_');
        id.extend(segment.chars().filter(|c| !matches!(c, '{' | '}')).map(|c| {
            if c.is_ascii_alphanumeric() {
                c
            } else {
                '_'
            }
        }));
    }
    id
}

impl<V: Verb, F, P, C: Principal, I: Input> Route<V, F, C, I, Plain>
where
    F: Filter<Extract = (P,), Error = Rejection> + Clone + Send + Sync + 'static,
    P: Params,
{
    /// Serves the route with `action(state, caller, path values, input)`;
    /// its error is a problem response.
    pub fn to<A, Fut, R>(self, action: A) -> Routes<impl RouteFilter>
    where
        A: Fn(AppState, C::Who, P, I::Value) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<R, Problem>> + Send + 'static,
        R: Reply + 'static,
    {
        let documented = self.document();
        let filter = self.path.filter.and(V::filter()).and(with_state()).and(C::filter()).and(I::filter()).then(
            move |params: P, state: AppState, who: C::Who, input: I::Value| {
                let answer = action(state, who, params, input);
                async move { respond(answer.await) }
            },
        );
        Routes { filter, operations: vec![documented] }
    }
}

impl<V: Verb, F, P, C: Principal, I: Input> Route<V, F, C, I, Idempotent>
where
    F: Filter<Extract = (P,), Error = Rejection> + Clone + Send + Sync + 'static,
    P: Params,
{
    /// Serves the route with `action(state, caller, path values, input)`,
    /// at most once per `Idempotency-Key` (scoped to the caller and to
    /// `METHOD /the/path` as requested); its error is a problem response.
    pub fn to<A, Fut, R>(self, action: A) -> Routes<impl RouteFilter>
    where
        A: Fn(AppState, C::Who, P, I::Value) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<R, Problem>> + Send + 'static,
        R: Reply + 'static,
    {
        let documented = self.document();
        let template = self.path.template;
        let filter = self
            .path
            .filter
            .and(V::filter())
            .and(with_state())
            .and(C::filter())
            .and(idempotency::parts())
            .and(I::filter_raw())
            .then(
                move |params: P,
                      state: AppState,
                      who: C::Who,
                      parts: idempotency::IdempotencyParts,
                      input: I::Value,
                      raw: Bytes| {
                    let parts = parts.of(C::principal(&who));
                    // The route is named only when a key scopes it.
                    let route = if parts.has_key() { route_name(V::NAME, template, &params) } else { String::new() };
                    let action = action.clone();
                    async move {
                        idempotency::idempotent(&state.clone(), parts, &route, &raw, || async move {
                            respond(action(state, who, params, input).await)
                        })
                        .await
                    }
                },
            );
        Routes { filter, operations: vec![documented] }
    }
}

/// A route's OpenAPI operation, with the component schemas it refers to.
#[derive(Clone)]
pub struct Documented {
    method: HttpMethod,
    name: &'static str,
    path: &'static str,
    operation: OpenApiOperation,
    schemas: Schemas,
}

impl Documented {
    /// The method as a request line writes it (`POST`).
    pub fn method(&self) -> &'static str {
        self.name
    }

    /// The path template (`/v1/carts/{id}/items`).
    pub fn path(&self) -> &'static str {
        self.path
    }

    pub fn http_method(&self) -> HttpMethod {
        self.method.clone()
    }

    pub fn operation(&self) -> &OpenApiOperation {
        &self.operation
    }

    pub fn schemas(&self) -> &Schemas {
        &self.schemas
    }
}

/// Routes tried in order, and their operations in the same order.
pub struct Routes<F> {
    filter: F,
    operations: Vec<Documented>,
}

impl<F: RouteFilter> Routes<F> {
    /// These routes, then `next`'s.
    pub fn or<G: RouteFilter>(mut self, next: Routes<G>) -> Routes<impl RouteFilter> {
        self.operations.extend(next.operations);
        Routes { filter: self.filter.or(next.filter).unify(), operations: self.operations }
    }

    /// The filter that serves them.
    pub fn filter(self) -> F {
        self.filter
    }

    /// Their operations, in the order the routes are tried.
    pub fn operations(&self) -> &[Documented] {
        &self.operations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_documented_as_it_is_spelled() {
        assert_eq!(route_path!("health").template(), "/health");
        assert_eq!(route_path!("openapi.json").template(), "/openapi.json");
        assert_eq!(route_path!("v1" / "carts" / { id } / "items").template(), "/v1/carts/{id}/items");
        assert_eq!(
            route_path!("v1" / "admin" / "inventory" / { sku } / { warehouse }).template(),
            "/v1/admin/inventory/{sku}/{warehouse}"
        );
    }

    #[test]
    fn path_parameters_come_from_the_template() {
        let names: Vec<&str> = param_names("/v1/carts/{id}/items/{sku}/save-for-later").collect();
        assert_eq!(names, ["id", "sku"]);
        assert_eq!(param_names("/v1/carts").count(), 0);
    }

    #[test]
    fn an_idempotency_scope_names_the_route_as_requested() {
        assert_eq!(route_name("POST", "/v1/carts", &()), "POST /v1/carts");
        let claim = ("D-1".to_owned(),);
        assert_eq!(route_name("POST", "/v1/deals/{id}/claims", &claim), "POST /v1/deals/D-1/claims");
        let line = ("C-1".to_owned(), "SKU-1".to_owned());
        assert_eq!(route_name("PUT", "/v1/carts/{id}/items/{sku}", &line), "PUT /v1/carts/C-1/items/SKU-1");
    }

    #[test]
    fn operation_ids_are_the_method_and_the_path() {
        assert_eq!(operation_id("POST", "/v1/carts/{id}/items"), "post_v1_carts_id_items");
        assert_eq!(operation_id("GET", "/openapi.json"), "get_openapi_json");
        assert_eq!(
            operation_id("POST", "/v1/carts/{id}/items/{sku}/save-for-later"),
            "post_v1_carts_id_items_sku_save_for_later"
        );
    }
}
