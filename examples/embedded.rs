//! Embedding Mercato in a program: open the engine, stock a SKU, let many
//! customers race for it, commit the winners, keep a cart, shut down cleanly.
//!
//! `cargo run --release --example embedded [DATA_DIR]`

use mercato::engine::{
    BucketKey, CartId, CategoryPath, Currency, InventoryError, Money, ProductDraft, ProductId, Sku, WarehouseId,
};
use mercato::{Config, Error, Mercato, ReserveRequest, StockUpdate};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let data_dir = std::env::args().nth(1).map(std::path::PathBuf::from);
    let temporary = tempfile::tempdir()?;
    let dir = data_dir.unwrap_or_else(|| temporary.path().to_path_buf());
    let mercato = Mercato::open(Config::new(&dir))?;

    // 100 units of a hot SKU in one warehouse, 1,000 customers racing for one each.
    let sku = Sku::parse("DEAL-TV-55")?;
    let bucket = BucketKey::new(sku.clone(), WarehouseId::parse("W-EAST")?);
    mercato.inventory().set_stock(bucket, StockUpdate::on_hand(100)).await?;
    let racers = (0..1_000).map(|_| {
        let mercato = mercato.clone();
        let sku = sku.clone();
        tokio::spawn(async move { mercato.inventory().reserve(ReserveRequest::new(sku, 1).ttl_ms(600_000)).await })
    });
    let mut winners = Vec::new();
    let mut sold_out = 0;
    for racer in racers {
        match racer.await? {
            Ok(reservation) => winners.push(reservation),
            Err(Error::Inventory(InventoryError::InsufficientStock { .. })) => sold_out += 1,
            Err(other) => return Err(other.into()),
        }
    }
    println!("{} holds granted, {} customers told it is sold out", winners.len(), sold_out);

    // Winners pay: their holds become sales.
    for reservation in &winners {
        mercato.inventory().commit(&reservation.id).await?;
    }
    let counts = mercato.inventory().levels(&sku).await?.totals;
    println!("on hand {}, committed {}, available {}", counts.on_hand, counts.committed, counts.available);

    // A customer's cart survives restarts; a guest cart merges into it at
    // sign-in. A cart takes only what the catalog sells.
    let kettle = ProductDraft::single(
        ProductId::parse("P-1001")?,
        "Kettle",
        CategoryPath::parse(vec!["Home".to_owned(), "Kitchen".to_owned()])?,
        Sku::parse("P-1001-BLK")?,
        Money::new(4_999, Currency::USD),
    );
    mercato.catalog().upsert_products(vec![kettle]).await?.remove(0)?;
    let mine = CartId::parse("cart_customer_42")?;
    mercato.carts().open(&mine).await?;
    mercato.carts().add(&mine, Sku::parse("P-1001-BLK")?, 1).await?;
    let guest = mercato.carts().create().await?.id;
    mercato.carts().add(&guest, Sku::parse("P-1001-BLK")?, 2).await?;
    let merged = mercato.carts().merge(&guest, &mine).await?;
    println!("cart {} holds {} items after the merge", merged.id, merged.item_count);

    mercato.shutdown().await?;
    Ok(())
}
