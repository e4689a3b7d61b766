//! The stateful half of the test server: customers and sessions, one SKU's
//! stock in one warehouse, and one flash deal, all behind one mutex. Exactly
//! `quantity` claims succeed (plus `oversell_by`, to prove the checks catch
//! it), each customer gets at most the deal's limit, a claim with an
//! `Idempotency-Key` already seen replays the first answer, and every claim
//! after the last unit is 409 `sold-out`.

use std::collections::HashMap;
use std::sync::Mutex;

use hyper::{Body, Method, Request, Response, StatusCode};
use serde_json::{json, Value};

/// The admin token the tests run with.
pub const ADMIN_TOKEN: &str = "T";
/// The SKUs the stub keeps stock for (the test product's variants).
const SKUS: [&str; 2] = ["P-1000-BLK", "P-1000-WHT"];
const WAREHOUSE: &str = "W-EAST";

pub struct DealStub {
    state: Mutex<State>,
    oversell_by: u64,
}

#[derive(Default)]
struct State {
    on_hand: HashMap<String, u64>,
    /// Email -> (password, customer id).
    customers: HashMap<String, (String, String)>,
    /// Token -> customer id.
    sessions: HashMap<String, String>,
    deal: Option<Deal>,
    /// (customer id, key) -> the first answer.
    replies: HashMap<(String, String), (StatusCode, Value)>,
    /// Reservation id -> owner.
    reservations: HashMap<String, String>,
}

struct Deal {
    id: String,
    sku: String,
    quantity: u64,
    sold: u64,
    limit: u64,
    per_customer: HashMap<String, u64>,
}

impl Deal {
    fn remaining(&self) -> u64 {
        self.quantity.saturating_sub(self.sold)
    }

    fn view(&self) -> Value {
        let status = if self.remaining() == 0 { "sold_out" } else { "active" };
        json!({"deal_id": self.id, "sku": self.sku, "price": {"cents": 999, "currency": "USD"},
               "quantity": self.quantity, "remaining": self.remaining(), "status": status,
               "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2100-01-01T00:00:00Z",
               "per_customer_limit": self.limit})
    }
}

impl DealStub {
    /// A stub that sells `oversell_by` units more than its deal has.
    pub fn new(oversell_by: u64) -> Self {
        let on_hand = SKUS.iter().map(|sku| ((*sku).to_owned(), 40)).collect();
        DealStub { state: Mutex::new(State { on_hand, ..State::default() }), oversell_by }
    }

    /// The answer to a request the stateless routes did not take.
    pub async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let body: Value = match hyper::body::to_bytes(body).await {
            Ok(bytes) if bytes.is_empty() => Value::Null,
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let header = |name: &str| parts.headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
        let token = header("authorization").and_then(|value| value.strip_prefix("Bearer ").map(str::to_owned));
        let key = header("idempotency-key");
        let segments: Vec<&str> = parts.uri.path().trim_matches('/').split('/').collect();
        let mut state = self.state.lock().expect("stub state");
        let (status, value) = match (&parts.method, segments.as_slice()) {
            (&Method::POST, ["v1", "customers"]) => state.register(&body),
            (&Method::POST, ["v1", "sessions"]) => state.sign_in(&body),
            (&Method::GET, ["v1", "inventory", sku]) => state.inventory(sku),
            (&Method::PUT, ["v1", "admin", "inventory", sku, WAREHOUSE]) if is_admin(&token) => {
                state.set_stock(sku, &body)
            }
            (&Method::POST, ["v1", "admin", "deals"]) if is_admin(&token) => state.create_deal(&body),
            (&Method::GET, ["v1", "deals", id]) => match &state.deal {
                Some(deal) if deal.id == *id => (StatusCode::OK, deal.view()),
                _ => problem(StatusCode::NOT_FOUND, "not-found"),
            },
            (&Method::POST, ["v1", "deals", id, "claims"]) => match state.customer(&token) {
                Some(customer) => state.claim(id, &customer, key, self.oversell_by),
                None => problem(StatusCode::UNAUTHORIZED, "unauthorized"),
            },
            (&Method::GET, ["v1", "reservations", id]) => match state.customer(&token) {
                Some(customer) if state.reservations.get(*id) == Some(&customer) => {
                    (StatusCode::OK, json!({"reservation_id": id, "status": "held", "quantity": 1}))
                }
                _ => problem(StatusCode::NOT_FOUND, "not-found"),
            },
            _ => problem(StatusCode::NOT_FOUND, "not-found"),
        };
        let content_type = if status.is_success() { "application/json" } else { "application/problem+json" };
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Body::from(value.to_string()))
            .expect("stub response")
    }
}

fn is_admin(token: &Option<String>) -> bool {
    token.as_deref() == Some(ADMIN_TOKEN)
}

fn problem(status: StatusCode, kind: &str) -> (StatusCode, Value) {
    (status, json!({"type": kind, "title": kind, "status": status.as_u16(), "detail": kind}))
}

fn text(body: &Value, field: &str) -> Option<String> {
    body.get(field).and_then(Value::as_str).map(str::to_owned)
}

fn count(body: &Value, field: &str) -> Option<u64> {
    body.get(field).and_then(Value::as_u64)
}

impl State {
    fn register(&mut self, body: &Value) -> (StatusCode, Value) {
        let (Some(email), Some(password)) = (text(body, "email"), text(body, "password")) else {
            return problem(StatusCode::BAD_REQUEST, "invalid-input");
        };
        if self.customers.contains_key(&email) {
            return problem(StatusCode::CONFLICT, "conflict");
        }
        let customer_id = format!("cus_{}", self.customers.len());
        self.customers.insert(email, (password, customer_id.clone()));
        (StatusCode::CREATED, json!({"customer_id": customer_id}))
    }

    fn sign_in(&mut self, body: &Value) -> (StatusCode, Value) {
        let known = text(body, "email").and_then(|email| self.customers.get(&email)).cloned();
        match known {
            Some((password, customer_id)) if Some(&password) == text(body, "password").as_ref() => {
                let token = format!("tok_{customer_id}_{}", self.sessions.len());
                self.sessions.insert(token.clone(), customer_id.clone());
                (StatusCode::OK, json!({"token": token, "customer_id": customer_id, "cart_id": "c1"}))
            }
            _ => problem(StatusCode::UNAUTHORIZED, "unauthorized"),
        }
    }

    fn customer(&self, token: &Option<String>) -> Option<String> {
        token.as_ref().and_then(|token| self.sessions.get(token)).cloned()
    }

    fn counts(&self, sku: &str) -> Option<Value> {
        let on_hand = *self.on_hand.get(sku)?;
        let counts = json!({"on_hand": on_hand, "held": 0, "committed": 0, "safety_stock": 0, "available": on_hand});
        Some(counts)
    }

    fn inventory(&self, sku: &str) -> (StatusCode, Value) {
        let Some(counts) = self.counts(sku) else { return problem(StatusCode::NOT_FOUND, "not-found") };
        let mut view = counts.clone();
        view["sku"] = json!(sku);
        let mut warehouse = counts;
        warehouse["warehouse"] = json!(WAREHOUSE);
        view["warehouses"] = json!([warehouse]);
        (StatusCode::OK, view)
    }

    fn set_stock(&mut self, sku: &str, body: &Value) -> (StatusCode, Value) {
        let (Some(on_hand), Some(stocked)) = (count(body, "on_hand"), self.on_hand.get_mut(sku)) else {
            return problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
        };
        *stocked = on_hand;
        (StatusCode::OK, self.counts(sku).unwrap_or_default())
    }

    fn create_deal(&mut self, body: &Value) -> (StatusCode, Value) {
        let (Some(sku), Some(quantity), Some(limit)) =
            (text(body, "sku"), count(body, "quantity"), count(body, "per_customer_limit"))
        else {
            return problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid-input");
        };
        let Some(on_hand) = self.on_hand.get_mut(&sku) else { return problem(StatusCode::NOT_FOUND, "not-found") };
        if *on_hand < quantity {
            return problem(StatusCode::CONFLICT, "insufficient-stock");
        }
        // The deal's units leave the SKU's stock, as on the server.
        *on_hand -= quantity;
        let id = format!("deal_{}", u8::from(self.deal.is_some()));
        self.deal = Some(Deal { id: id.clone(), sku, quantity, sold: 0, limit, per_customer: HashMap::new() });
        (StatusCode::CREATED, json!({"deal_id": id}))
    }

    fn claim(&mut self, id: &str, customer: &str, key: Option<String>, oversell_by: u64) -> (StatusCode, Value) {
        let scope = key.map(|key| (customer.to_owned(), key));
        if let Some(first) = scope.as_ref().and_then(|scope| self.replies.get(scope)) {
            return first.clone();
        }
        let reservation_id = format!("res_{}", self.reservations.len());
        let answer = match self.deal.as_mut() {
            Some(deal) if deal.id == id => {
                let claimed = deal.per_customer.entry(customer.to_owned()).or_default();
                if *claimed >= deal.limit {
                    problem(StatusCode::CONFLICT, "limit-exceeded")
                } else if deal.sold >= deal.quantity + oversell_by {
                    problem(StatusCode::CONFLICT, "sold-out")
                } else {
                    *claimed += 1;
                    deal.sold += 1;
                    self.reservations.insert(reservation_id.clone(), customer.to_owned());
                    let claim = json!({"reservation_id": reservation_id, "expires_at": "2100-01-01T00:00:00Z",
                                       "price": {"cents": 999, "currency": "USD"}, "quantity": 1});
                    (StatusCode::CREATED, claim)
                }
            }
            _ => problem(StatusCode::NOT_FOUND, "not-found"),
        };
        if let Some(scope) = scope {
            self.replies.insert(scope, answer.clone());
        }
        answer
    }
}
