//! `mercato snapshot export|import`: back up and restore a stopped server's
//! full state (see [`crate::store::snapshot`] for the file format).

use crate::clock::Clock;
use crate::store::snapshot::{self, SnapshotPayload, SNAPSHOT_VERSION};
use crate::store::{Durability, Store, StoreConfig};
use crate::{Config, Error, Mercato, OpenReport};
use std::path::Path;

fn open_store(data_dir: &Path) -> Result<Store, Error> {
    Ok(Store::open(&StoreConfig {
        path: data_dir.to_path_buf(),
        durability: Durability::Strict,
        cache_capacity_bytes: 64 << 20,
    })?)
}

/// Writes every state record of `data_dir` to `file` (atomically: a
/// temporary file renamed into place); returns the number of records.
pub fn export(data_dir: &Path, file: &Path, clock: &dyn Clock) -> Result<usize, Error> {
    let store = open_store(data_dir)?;
    let records = store.export_records()?;
    let count = records.len();
    let payload = SnapshotPayload { version: SNAPSHOT_VERSION, created_at_ms: clock.now().as_millis(), records };
    let bytes = snapshot::encode(&payload)?;
    let temporary = file.with_extension("partial");
    std::fs::write(&temporary, &bytes).map_err(|err| Error::InvalidInput(format!("{}: {err}", temporary.display())))?;
    std::fs::rename(&temporary, file).map_err(|err| Error::InvalidInput(format!("{}: {err}", file.display())))?;
    store.close()?;
    Ok(count)
}

/// Restores `file` into an empty `data_dir`, then opens the engine on it,
/// which rebuilds every bucket and checks every invariant.
pub async fn import(file: &Path, data_dir: &Path) -> Result<OpenReport, Error> {
    let bytes = std::fs::read(file).map_err(|err| Error::InvalidInput(format!("{}: {err}", file.display())))?;
    let payload = snapshot::decode(&bytes)?;
    {
        let store = open_store(data_dir)?;
        store.import_records(payload.records)?;
        store.close()?;
    }
    let mercato = Mercato::open(Config::new(data_dir))?;
    let report = mercato.open_report();
    mercato.shutdown().await?;
    Ok(report)
}
