//! Signed-in shoppers for the scenarios that need them: registered
//! (`POST /v1/customers`) and signed in (`POST /v1/sessions`) at setup, over a
//! bounded number of connections at once.
//!
//! Emails carry the run's id, so runs against the same server never collide.
//! Registration hashes a password, which is deliberately slow: a server meant
//! to take thousands of sign-ups in a setup runs with `--load-test-mode
//! --password-cost fast`.

use std::sync::Arc;

use anyhow::{bail, Context};
use bytes::Bytes;
use hyper::StatusCode;
use serde::Deserialize;
use tokio::task::JoinSet;

use crate::http::{Client, Request, Target};

/// Every load-test customer's password (at least 8 characters, API.md).
pub const PASSWORD: &str = "loadtest-password";
/// Most customers one setup registers.
pub const CUSTOMERS_MAX: u64 = 1_000_000;

/// A registered, signed-in customer.
#[derive(Clone, Debug)]
pub struct Customer {
    pub customer_id: String,
    /// The session's bearer token.
    pub token: String,
}

#[derive(Deserialize)]
struct Session {
    token: String,
    customer_id: String,
}

/// The email of customer `index` of run `run_id`.
pub fn email(run_id: &str, index: usize) -> String {
    format!("lt-{run_id}-{index}@example.com")
}

/// Registers and signs in `count` customers, at most `lanes` at a time, and
/// returns them in index order. Fails on the first refusal.
pub async fn sign_up(target: &Arc<Target>, run_id: &str, count: usize, lanes: usize) -> anyhow::Result<Vec<Customer>> {
    let lanes = lanes.clamp(1, count.max(1));
    let mut tasks = JoinSet::new();
    for lane in 0..lanes {
        let client = Client::new(Arc::clone(target));
        let run_id = run_id.to_owned();
        tasks.spawn(async move {
            let mut signed_in = Vec::with_capacity(count / lanes + 1);
            for index in (lane..count).step_by(lanes) {
                signed_in.push((index, sign_up_one(&client, &email(&run_id, index), index).await?));
            }
            anyhow::Ok(signed_in)
        });
    }
    let mut customers: Vec<Option<Customer>> = vec![None; count];
    while let Some(joined) = tasks.join_next().await {
        // An error drops `tasks`, which aborts the other lanes.
        for (index, customer) in joined.context("a sign-up lane panicked")?? {
            customers[index] = Some(customer);
        }
    }
    customers
        .into_iter()
        .enumerate()
        .map(|(index, customer)| customer.context(format!("customer {index} missing")))
        .collect()
}

/// Tries of one setup request the server answers 429 (its password hashers
/// are all busy and their queue is full), a pause apart.
const BUSY_TRIES_MAX: u32 = 1_200;
const BUSY_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// Sends a setup request again while the server answers 429: a setup of
/// thousands of sign-ups over many connections fills the hashing queue.
async fn send_setup(client: &Client, request: &Request) -> anyhow::Result<crate::http::Response> {
    let mut tries = 0;
    loop {
        let response = client.send(request).await?;
        tries += 1;
        if response.status != StatusCode::TOO_MANY_REQUESTS || tries >= BUSY_TRIES_MAX {
            return Ok(response);
        }
        tokio::time::sleep(BUSY_PAUSE).await;
    }
}

async fn sign_up_one(client: &Client, email: &str, index: usize) -> anyhow::Result<Customer> {
    let registration = serde_json::json!({"email": email, "password": PASSWORD, "name": format!("Shopper {index}")});
    let request = Request::post_json("/v1/customers".to_owned(), Bytes::from(serde_json::to_vec(&registration)?));
    let response = send_setup(client, &request).await.with_context(|| format!("POST /v1/customers ({email})"))?;
    if response.status != StatusCode::CREATED {
        bail!("POST /v1/customers ({email}) answered {}: {}", response.status, String::from_utf8_lossy(&response.body));
    }
    let credentials = serde_json::json!({"email": email, "password": PASSWORD});
    let request = Request::post_json("/v1/sessions".to_owned(), Bytes::from(serde_json::to_vec(&credentials)?));
    let response = send_setup(client, &request).await.with_context(|| format!("POST /v1/sessions ({email})"))?;
    if response.status != StatusCode::OK {
        bail!("POST /v1/sessions ({email}) answered {}: {}", response.status, String::from_utf8_lossy(&response.body));
    }
    let session: Session = serde_json::from_slice(&response.body)
        .with_context(|| format!("POST /v1/sessions ({email}): no token and customer_id"))?;
    Ok(Customer { customer_id: session.customer_id, token: session.token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_unique_per_run_and_index_and_within_the_limit() {
        assert_eq!(email("00ff", 7), "lt-00ff-7@example.com");
        assert_ne!(email("00ff", 7), email("00fe", 7));
        assert!(email(&format!("{:016x}", u64::MAX), usize::MAX).len() <= 254);
    }
}
