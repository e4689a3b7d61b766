//! Customers for the scenarios that need them: registered
//! (`POST /v1/customers`) and, for the shoppers, signed in
//! (`POST /v1/sessions`) at setup, over a bounded number of connections at once.
//!
//! Emails carry the run's id, so runs against the same server never collide.
//! Registration hashes a password, which is deliberately slow: a server meant
//! to take thousands of sign-ups in a setup runs with `--load-test-mode
//! --password-cost fast`.
//!
//! A server limits registrations and sign-ins per client address (10/s, burst
//! 20, by default). Behind a server that trusts this machine as a proxy
//! (`--trusted-proxy 127.0.0.1/32`), setup can send each customer's requests
//! on behalf of an address of its own (`X-Forwarded-For`, from one of the
//! [`Space`]s), so that limit does not throttle it. A 429 (that limit, or the
//! server's password hashers busy) is sent again after the answer's
//! `Retry-After`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use hyper::StatusCode;
use serde::Deserialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::http::{Client, Request, Response, Target};

/// Every load-test customer's password (at least 8 characters, API.md).
pub const PASSWORD: &str = "loadtest-password";
/// Most customers one setup registers.
pub const CUSTOMERS_MAX: u64 = 1_000_000;
/// Addresses in one [`Space`].
pub const SPACE_ADDRESSES: u64 = 1 << 22;

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

/// Disjoint ranges of private client addresses (`X-Forwarded-For`), one per
/// use, so that no use spends another's per-address allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    /// The `sign-in` flood's clients: `10.0.0.0/10`.
    Flood,
    /// Registration of the `sign-in` customers: `10.64.0.0/10`.
    Registration,
    /// Sign-up of the customers of a flash sale run beside a flood: `10.128.0.0/10`.
    SaleSignUp,
}

/// Address `index` of `space` (`index` below [`SPACE_ADDRESSES`], wrapping
/// past it).
pub fn client_address(space: Space, index: u64) -> IpAddr {
    let index = index % SPACE_ADDRESSES;
    let block: u8 = match space {
        Space::Flood => 0,
        Space::Registration => 64,
        Space::SaleSignUp => 128,
    };
    let [_, high, middle, low] = u32::try_from(index).unwrap_or(0).to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(10, block | high, middle, low))
}

/// The email of customer `index` of run `run_id`.
pub fn email(run_id: &str, index: usize) -> String {
    format!("lt-{run_id}-{index}@example.com")
}

/// What a 429 from the customer routes was about, read from its problem
/// `detail` (all three are type `rate-limited`); [`TooMany::Other`] when the
/// server words it otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TooMany {
    /// Too many registrations and sign-ins from the client's address.
    Throttled,
    /// Too many failed sign-ins for this email from this address.
    LockedOut,
    /// The password hashers are all busy and their queue is full.
    Busy,
    Other,
}

impl TooMany {
    pub fn of(response: &Response) -> TooMany {
        #[derive(Deserialize)]
        struct Problem {
            detail: String,
        }
        let Ok(problem) = serde_json::from_slice::<Problem>(&response.body) else { return TooMany::Other };
        let detail = problem.detail;
        if detail.contains("from this address") {
            TooMany::Throttled
        } else if detail.contains("failed sign-ins") {
            TooMany::LockedOut
        } else if detail.contains("being checked") {
            TooMany::Busy
        } else {
            TooMany::Other
        }
    }
}

/// Registers and signs in `count` customers, at most `lanes` at a time, and
/// returns them in index order. With `space`, customer k's requests go on
/// behalf of address k of it. Fails on the first refusal.
pub async fn sign_up(
    target: &Arc<Target>,
    run_id: &str,
    count: usize,
    lanes: usize,
    space: Option<Space>,
) -> anyhow::Result<Vec<Customer>> {
    let run_id: Arc<str> = Arc::from(run_id);
    let retries = Arc::new(AtomicU64::new(0));
    in_lanes(target, count, lanes, move |client, index| {
        let (run_id, retries) = (Arc::clone(&run_id), Arc::clone(&retries));
        async move {
            let from = space.map(|space| client_address(space, u64::try_from(index).unwrap_or(u64::MAX)));
            let email = email(&run_id, index);
            register_one(&client, &email, index, from, &retries).await?;
            sign_in_one(&client, &email, from, &retries).await
        }
    })
    .await
}

/// Registers `count` customers without signing them in, at most `lanes` at a
/// time, customer k on behalf of address k of `space`. Returns how many
/// requests were sent again after a 429. Fails on the first refusal.
pub async fn register(
    target: &Arc<Target>,
    run_id: &str,
    count: usize,
    lanes: usize,
    space: Space,
) -> anyhow::Result<u64> {
    let run_id: Arc<str> = Arc::from(run_id);
    let retries = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&retries);
    in_lanes(target, count, lanes, move |client, index| {
        let (run_id, retries) = (Arc::clone(&run_id), Arc::clone(&counted));
        async move {
            let from = client_address(space, u64::try_from(index).unwrap_or(u64::MAX));
            register_one(&client, &email(&run_id, index), index, Some(from), &retries).await
        }
    })
    .await?;
    Ok(retries.load(Ordering::Relaxed))
}

/// Runs `work` for every index below `count`, over at most `lanes` clients
/// at once (index k on lane `k % lanes`), and returns the results in index
/// order. The first error ends every lane.
async fn in_lanes<T, F, Fut>(target: &Arc<Target>, count: usize, lanes: usize, work: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(Client, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send,
{
    let lanes = lanes.clamp(1, count.max(1));
    let work = Arc::new(work);
    let mut tasks = JoinSet::new();
    for lane in 0..lanes {
        let client = Client::new(Arc::clone(target));
        let work = Arc::clone(&work);
        tasks.spawn(async move {
            let mut done = Vec::with_capacity(count / lanes + 1);
            for index in (lane..count).step_by(lanes) {
                done.push((index, work(client.clone(), index).await?));
            }
            anyhow::Ok(done)
        });
    }
    let mut results: Vec<Option<T>> = std::iter::repeat_with(|| None).take(count).collect();
    while let Some(joined) = tasks.join_next().await {
        // An error drops `tasks`, which aborts the other lanes.
        for (index, result) in joined.context("a setup lane panicked")?? {
            results[index] = Some(result);
        }
    }
    results.into_iter().enumerate().map(|(index, result)| result.context(format!("customer {index} missing"))).collect()
}

/// How long one setup request is sent again while the server answers 429.
const SETUP_RETRY_FOR: Duration = Duration::from_secs(5 * 60);
/// The pause after a 429 without `Retry-After`.
const BUSY_PAUSE: Duration = Duration::from_millis(50);
/// The longest pause a `Retry-After` is honoured with.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// Sends a setup request, and again after each 429's `Retry-After` (a setup
/// of thousands of sign-ups fills the hashing queue), for at most
/// [`SETUP_RETRY_FOR`]; then returns the last answer. The first request on
/// behalf of an address (`fresh_address`) throttled per address on its
/// first try means the server does not take `X-Forwarded-For` from this
/// machine: an error that says so.
async fn send_setup(
    client: &Client,
    request: &Request,
    fresh_address: bool,
    retries: &AtomicU64,
) -> anyhow::Result<Response> {
    let deadline = Instant::now() + SETUP_RETRY_FOR;
    let mut first = true;
    loop {
        let response = client.send(request).await?;
        if response.status != StatusCode::TOO_MANY_REQUESTS {
            return Ok(response);
        }
        if let (true, true, Some(address)) = (first, fresh_address, request.forwarded_for) {
            if TooMany::of(&response) == TooMany::Throttled {
                bail!(
                    "the first request on behalf of {address} was throttled per address: the server does not \
                     take X-Forwarded-For from this machine; start it with --trusted-proxy naming the address \
                     it sees this machine connect from (127.0.0.1/32 on one machine)"
                );
            }
        }
        first = false;
        let pause = response.retry_after_s.map_or(BUSY_PAUSE, Duration::from_secs).min(RETRY_AFTER_MAX);
        if Instant::now() + pause > deadline {
            return Ok(response);
        }
        retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(pause).await;
    }
}

async fn register_one(
    client: &Client,
    email: &str,
    index: usize,
    from: Option<IpAddr>,
    retries: &AtomicU64,
) -> anyhow::Result<()> {
    let registration = serde_json::json!({"email": email, "password": PASSWORD, "name": format!("Shopper {index}")});
    let mut request = Request::post_json("/v1/customers".to_owned(), Bytes::from(serde_json::to_vec(&registration)?));
    request.forwarded_for = from;
    let response =
        send_setup(client, &request, true, retries).await.with_context(|| format!("POST /v1/customers ({email})"))?;
    if response.status != StatusCode::CREATED {
        bail!("POST /v1/customers ({email}) answered {}: {}", response.status, String::from_utf8_lossy(&response.body));
    }
    Ok(())
}

async fn sign_in_one(
    client: &Client,
    email: &str,
    from: Option<IpAddr>,
    retries: &AtomicU64,
) -> anyhow::Result<Customer> {
    let credentials = serde_json::json!({"email": email, "password": PASSWORD});
    let mut request = Request::post_json("/v1/sessions".to_owned(), Bytes::from(serde_json::to_vec(&credentials)?));
    request.forwarded_for = from;
    let response =
        send_setup(client, &request, false, retries).await.with_context(|| format!("POST /v1/sessions ({email})"))?;
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

    #[test]
    fn the_address_spaces_are_disjoint_private_blocks() {
        let address = |space, index| client_address(space, index).to_string();
        assert_eq!(address(Space::Flood, 0), "10.0.0.0");
        assert_eq!(address(Space::Flood, 0x01_02_03), "10.1.2.3");
        assert_eq!(address(Space::Flood, SPACE_ADDRESSES - 1), "10.63.255.255");
        assert_eq!(address(Space::Registration, 0), "10.64.0.0");
        assert_eq!(address(Space::Registration, SPACE_ADDRESSES - 1), "10.127.255.255");
        assert_eq!(address(Space::SaleSignUp, 5), "10.128.0.5");
        assert_eq!(address(Space::Flood, SPACE_ADDRESSES + 5), address(Space::Flood, 5), "wraps within its block");
    }

    #[test]
    fn a_429_says_what_it_was_about_in_its_detail() {
        let too_many = |detail: &str| {
            TooMany::of(&Response {
                status: StatusCode::TOO_MANY_REQUESTS,
                content_type: Some("application/problem+json".to_owned()),
                retry_after_s: Some(1),
                body: Bytes::from(serde_json::json!({"type": "rate-limited", "detail": detail}).to_string()),
            })
        };
        assert_eq!(too_many("too many sign-ins and registrations from this address"), TooMany::Throttled);
        assert_eq!(too_many("too many failed sign-ins; retry in 950 ms"), TooMany::LockedOut);
        assert_eq!(too_many("too many sign-ins are being checked; retry shortly"), TooMany::Busy);
        assert_eq!(too_many("slow down"), TooMany::Other);
    }
}
