//! Rollups: each CPI's cells pre-aggregated by day (or a coarser grain) and
//! every declared dimension, kept as Parquet in the workspace's cache
//! folder, so that repeated slices read thousands of rows instead of
//! millions of events.
//!
//! This module owns the rollup's life: building ([`build`]), folding in new
//! files or rebuilding ([`refresh`]), reporting ([`status`]), removing
//! ([`drop_rollups`]), and deciding for each slice whether a rollup may
//! answer it ([`choose`]). A rollup answers only when it covers the slice
//! (its dimensions hold every `--by` and `--where` column, its grain divides
//! the slice's, `--from`/`--to` fall on its period boundaries) and is fresh:
//! built from the same definition, parameter values and calendar, and from
//! exactly the files its tables hold now (path, size, modification time and
//! e-tag). Anything else reads the raw events and says why, so a rollup is
//! never used silently when stale. The slice itself is computed by the slice
//! module from either source with the same code.
//!
//! On disk, `CACHE/rollups/CPI/` holds `manifest.json` (what the rollup was
//! built from) and its Parquet parts. A build or refresh writes new parts,
//! then replaces the manifest atomically, then removes parts no longer
//! listed: a reader sees the old rollup or the new one, never a mix.

mod background; // day rollups built after a raw slice, on a thread of their own
mod build; // building, refreshing (folding new files in), dropping
mod choose; // which rollup answers a slice, and registering it
mod freshness; // how the sources drifted since the build
mod lineage; // which tables a CPI view reads
mod manifest; // what a rollup was built from, on disk
mod status; // `\rollup status`

pub use background::Background;
pub use build::{build, drop_rollups, refresh};
pub use choose::{Choice, choose};
pub(crate) use lineage::base_tables;
pub use manifest::SCHEMA;
pub use status::status;

#[cfg(test)]
use freshness::{Drift, drift, grain_covers};
#[cfg(test)]
use manifest::{FileStamp, SourceTable};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::calendar::Grain;

    fn stamp(path: &str, size: u64) -> FileStamp {
        FileStamp {
            path: path.into(),
            size,
            modified: "2026-01-01T00:00:00Z".into(),
            etag: None,
        }
    }

    fn table(name: &str, files: &[FileStamp]) -> SourceTable {
        SourceTable {
            table: name.into(),
            files: files.to_vec(),
        }
    }

    #[test]
    fn drift_tells_additions_from_changes() {
        let a = stamp("t/a.parquet", 10);
        let b = stamp("t/b.parquet", 20);
        let old = vec![table("orders", std::slice::from_ref(&a))];
        assert!(matches!(drift(&old, &old), Drift::None));
        let added = vec![table("orders", &[a.clone(), b.clone()])];
        match drift(&old, &added) {
            Drift::Added { table, files } => {
                assert_eq!(table, "orders");
                assert_eq!(files, vec![b.clone()]);
            }
            other => panic!("{other:?}"),
        }
        let changed = vec![table("orders", &[stamp("t/a.parquet", 11)])];
        assert!(
            matches!(drift(&old, &changed), Drift::Changed(m) if m == "orders: a.parquet changed")
        );
        let removed = vec![table("orders", &[])];
        assert!(matches!(drift(&old, &removed), Drift::Changed(m) if m.contains("removed")));
        let two = vec![
            table("orders", std::slice::from_ref(&a)),
            table("returns", &[]),
        ];
        let two_added = vec![table("orders", &[a, b.clone()]), table("returns", &[b])];
        assert!(
            matches!(drift(&two, &two_added), Drift::Changed(m) if m.contains("orders and returns"))
        );
    }

    #[test]
    fn coarser_grains_are_covered_by_finer_rollups() {
        use Grain::*;
        assert!(grain_covers(Day, Week) && grain_covers(Day, Quarter) && grain_covers(Day, All));
        assert!(grain_covers(Month, Quarter) && grain_covers(Month, Year));
        assert!(
            !grain_covers(Month, Week) && !grain_covers(Week, Month) && !grain_covers(Month, Day)
        );
        assert!(grain_covers(Week, Week) && grain_covers(Week, All));
    }
}
