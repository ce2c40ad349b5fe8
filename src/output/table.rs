//! The boxed table people read on a terminal: column names and types in the
//! header, numbers right-aligned, NULL spelled out, and a row count below.

use std::io::Write;
use std::sync::Arc;

use comfy_table::{Cell, CellAlignment, ContentArrangement, Table, presets};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::util::display::ArrayFormatter;

use super::format_options;
use crate::error::Result;

/// Render `batches` as a table with a row-count footer.
pub fn render(schema: &Arc<Schema>, batches: &[RecordBatch], out: &mut dyn Write) -> Result<()> {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    let show_types = !schema.metadata().contains_key(crate::slice::DISPLAY_ONLY);
    table.set_header(schema.fields().iter().map(|f| {
        if show_types {
            Cell::new(format!("{}\n{}", f.name(), type_name(f.data_type())))
        } else {
            Cell::new(f.name())
        }
    }));
    let aligns: Vec<CellAlignment> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type().is_numeric() {
                CellAlignment::Right
            } else {
                CellAlignment::Left
            }
        })
        .collect();
    let opts = format_options();
    let mut rows = 0usize;
    for b in batches {
        let fmts = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            table.add_row(
                fmts.iter()
                    .zip(&aligns)
                    .map(|(f, a)| Cell::new(f.value(r).to_string()).set_alignment(*a)),
            );
            rows += 1;
        }
    }
    writeln!(out, "{table}")?;
    writeln!(out, "({rows} row{})", if rows == 1 { "" } else { "s" })?;
    Ok(())
}

/// A short SQL-ish name for an Arrow type, as analysts know them.
fn type_name(t: &datafusion::arrow::datatypes::DataType) -> String {
    use datafusion::arrow::datatypes::DataType as T;
    match t {
        T::Int8 | T::Int16 | T::Int32 | T::UInt8 | T::UInt16 => "int".into(),
        T::Int64 | T::UInt32 | T::UInt64 => "bigint".into(),
        T::Float16 | T::Float32 => "float".into(),
        T::Float64 => "double".into(),
        T::Decimal128(p, s) | T::Decimal256(p, s) => format!("decimal({p},{s})"),
        T::Utf8 | T::LargeUtf8 | T::Utf8View => "varchar".into(),
        T::Boolean => "boolean".into(),
        T::Date32 | T::Date64 => "date".into(),
        T::Timestamp(_, None) => "timestamp".into(),
        T::Timestamp(_, Some(_)) => "timestamptz".into(),
        T::Dictionary(_, v) => type_name(v),
        other => other.to_string().to_lowercase(),
    }
}
