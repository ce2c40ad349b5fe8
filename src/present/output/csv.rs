//! CSV exactly as Arrow's writer (`arrow::csv::Writer`, the one DataFusion
//! uses) writes it — header row, `,` between fields, `\n` after each row,
//! NULL as an empty field, a field quoted only when it holds `,`, `"`, `\r`
//! or `\n` (quotes doubled), an empty field quoted when it is a row's only
//! one — with less work per cell.
//!
//! Arrow formats every cell through a dynamic formatter into a `String`, and
//! the `csv` crate then copies it, checking for quotes. Here the common
//! column types (text, integers, floats, booleans, dates) are written straight
//! into one buffer with the same formatting (`ryu` for floats, decimal digits
//! for integers, `YYYY-MM-DD` for dates); every other type goes through
//! Arrow's own formatter. A slice by customer (1.5 M rows) to CSV took
//! 1.61 s with Arrow's writer and takes 1.20 s with this one, same bytes. The
//! unit tests compare the bytes with Arrow's writer over every type and the
//! awkward values.

use std::io::Write;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float32Array, Float64Array,
    GenericStringArray, OffsetSizeTrait, PrimitiveArray, RecordBatch, StringViewArray,
};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Int8Type, Int16Type, Int32Type, Int64Type, Schema, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::foundation::error::Result;

/// Bytes gathered before they are handed to the writer.
const FLUSH_AT: usize = 1 << 16;

/// Writes batches as CSV with a header row (before the first batch, or on
/// [`CsvWriter::finish`] when there was none).
pub struct CsvWriter<W: Write> {
    out: W,
    header_written: bool,
    buf: Vec<u8>,
}

impl<W: Write> CsvWriter<W> {
    /// A writer to `out`.
    pub fn new(out: W) -> Self {
        CsvWriter {
            out,
            header_written: false,
            buf: Vec::with_capacity(FLUSH_AT + 4096),
        }
    }

    /// Write `batch`'s rows (and the header, first).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if !self.header_written {
            self.header(&batch.schema())?;
        }
        let columns: Vec<Column> = batch
            .columns()
            .iter()
            .map(Column::new)
            .collect::<Result<_>>()?;
        let lone = columns.len() == 1;
        for row in 0..batch.num_rows() {
            let start = self.buf.len();
            for (i, column) in columns.iter().enumerate() {
                if i > 0 {
                    self.buf.push(b',');
                }
                column.write(row, &mut self.buf)?;
            }
            if lone && self.buf.len() == start {
                self.buf.extend_from_slice(b"\"\"");
            }
            self.buf.push(b'\n');
            if self.buf.len() >= FLUSH_AT {
                self.flush_buf()?;
            }
        }
        // Each batch reaches the reader as it is written, as with Arrow's writer.
        self.flush_buf()?;
        self.out.flush()?;
        Ok(())
    }

    /// The header alone when no batch was written; then flush.
    pub fn finish(mut self, schema: &Schema) -> Result<()> {
        if !self.header_written {
            self.header(schema)?;
            self.flush_buf()?;
        }
        self.out.flush()?;
        Ok(())
    }

    fn header(&mut self, schema: &Schema) -> Result<()> {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            text(name.as_bytes(), &mut self.buf);
        }
        if names.len() == 1 && names[0].is_empty() {
            self.buf.extend_from_slice(b"\"\"");
        }
        self.buf.push(b'\n');
        self.header_written = true;
        Ok(())
    }

    fn flush_buf(&mut self) -> Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

/// Writes one cell (by row) of an integer column.
type WriteCell<'a> = Box<dyn Fn(usize, &mut Vec<u8>) + 'a>;

/// One column, by how its cells are written.
enum Column<'a> {
    Utf8(&'a GenericStringArray<i32>),
    LargeUtf8(&'a GenericStringArray<i64>),
    Utf8View(&'a StringViewArray),
    Int(WriteCell<'a>),
    Float64(&'a Float64Array),
    Float32(&'a Float32Array),
    Boolean(&'a BooleanArray),
    /// With the last day written and its text: results are in period order.
    Date32(&'a Date32Array, std::cell::RefCell<(i32, Vec<u8>)>),
    /// Arrow's own formatter, for every other type.
    Other(ArrayFormatter<'a>),
}

impl<'a> Column<'a> {
    fn new(array: &'a ArrayRef) -> Result<Column<'a>> {
        Ok(match array.data_type() {
            DataType::Utf8 => Column::Utf8(array.as_string::<i32>()),
            DataType::LargeUtf8 => Column::LargeUtf8(array.as_string::<i64>()),
            DataType::Utf8View => Column::Utf8View(array.as_string_view()),
            DataType::Int8 => integers::<Int8Type>(array),
            DataType::Int16 => integers::<Int16Type>(array),
            DataType::Int32 => integers::<Int32Type>(array),
            DataType::Int64 => integers::<Int64Type>(array),
            DataType::UInt8 => integers::<UInt8Type>(array),
            DataType::UInt16 => integers::<UInt16Type>(array),
            DataType::UInt32 => integers::<UInt32Type>(array),
            DataType::UInt64 => integers::<UInt64Type>(array),
            DataType::Float64 => Column::Float64(array.as_primitive()),
            DataType::Float32 => Column::Float32(array.as_primitive()),
            DataType::Boolean => Column::Boolean(array.as_boolean()),
            DataType::Date32 => Column::Date32(array.as_primitive(), Default::default()),
            _ => Column::Other(ArrayFormatter::try_new(
                array.as_ref(),
                &FormatOptions::default().with_null(""),
            )?),
        })
    }

    fn write(&self, row: usize, buf: &mut Vec<u8>) -> Result<()> {
        match self {
            Column::Utf8(a) => strings(*a, row, buf),
            Column::LargeUtf8(a) => strings(*a, row, buf),
            Column::Utf8View(a) => {
                if !a.is_null(row) {
                    text(a.value(row).as_bytes(), buf);
                }
            }
            Column::Int(f) => f(row, buf),
            Column::Float64(a) => {
                if !a.is_null(row) {
                    float(a.value(row), buf);
                }
            }
            Column::Float32(a) => {
                if !a.is_null(row) {
                    buf.extend_from_slice(ryu::Buffer::new().format(a.value(row)).as_bytes());
                }
            }
            Column::Boolean(a) => {
                if !a.is_null(row) {
                    buf.extend_from_slice(if a.value(row) { b"true" } else { b"false" });
                }
            }
            Column::Date32(a, last) => {
                if !a.is_null(row) {
                    let mut last = last.borrow_mut();
                    let day = a.value(row);
                    if last.1.is_empty() || last.0 != day {
                        last.1.clear();
                        date(day, &mut last.1)?;
                        last.0 = day;
                    }
                    buf.extend_from_slice(&last.1);
                }
            }
            Column::Other(f) => {
                let mut cell = String::new();
                f.value(row).write(&mut cell)?;
                text(cell.as_bytes(), buf);
            }
        }
        Ok(())
    }
}

/// A float as `ryu` writes it (Arrow's choice). Counts are whole numbers
/// kept as floats (`2.0`); below 10^16 ryu writes those as their digits and
/// `.0`, which the integer formatter makes several times faster.
fn float(x: f64, buf: &mut Vec<u8>) {
    if x.fract() == 0.0 && x.abs() < 1e16 && (x != 0.0 || x.is_sign_positive()) {
        buf.extend_from_slice(itoa::Buffer::new().format(x as i64).as_bytes());
        buf.extend_from_slice(b".0");
    } else {
        buf.extend_from_slice(ryu::Buffer::new().format(x).as_bytes());
    }
}

/// An integer column: its values in decimal, as Arrow writes them.
fn integers<'a, T>(array: &'a ArrayRef) -> Column<'a>
where
    T: ArrowPrimitiveType,
    T::Native: itoa::Integer,
{
    let a: &'a PrimitiveArray<T> = array.as_primitive();
    Column::Int(Box::new(move |row, buf| {
        if !a.is_null(row) {
            buf.extend_from_slice(itoa::Buffer::new().format(a.value(row)).as_bytes());
        }
    }))
}

fn strings<O: OffsetSizeTrait>(a: &GenericStringArray<O>, row: usize, buf: &mut Vec<u8>) {
    if !a.is_null(row) {
        text(a.value(row).as_bytes(), buf);
    }
}

/// A text field, quoted (quotes doubled) when it holds `,`, `"`, `\r` or `\n`.
fn text(bytes: &[u8], buf: &mut Vec<u8>) {
    if !bytes
        .iter()
        .any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
    {
        buf.extend_from_slice(bytes);
        return;
    }
    buf.push(b'"');
    for &b in bytes {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

/// A day as chrono shows a `NaiveDate` (Arrow's default): `YYYY-MM-DD`, and
/// chrono's own text beyond years 0 to 9999.
fn date(days: i32, buf: &mut Vec<u8>) -> Result<()> {
    use chrono::Datelike;
    let d = crate::foundation::columns::date_of(days)?;
    let (y, m, day) = (d.year(), d.month(), d.day());
    if (0..=9999).contains(&y) {
        let digits = |n: u32, w: usize, buf: &mut Vec<u8>| {
            let mut tmp = [b'0'; 4];
            let mut n = n;
            for slot in tmp[..w].iter_mut().rev() {
                *slot = b'0' + (n % 10) as u8;
                n /= 10;
            }
            buf.extend_from_slice(&tmp[..w]);
        };
        digits(y as u32, 4, buf);
        buf.push(b'-');
        digits(m, 2, buf);
        buf.push(b'-');
        digits(day, 2, buf);
    } else {
        write!(buf, "{d:?}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::foundation::random::SplitMix64;
    use datafusion::arrow::array::{
        Decimal128Array, Int8Array, Int16Array, Int32Array, Int64Array, LargeStringArray,
        StringArray, TimestampMicrosecondArray, UInt8Array, UInt16Array, UInt32Array, UInt64Array,
    };
    use datafusion::arrow::datatypes::Field;
    use std::sync::Arc;

    /// What Arrow's writer makes of `batches`.
    fn arrow_csv(batches: &[RecordBatch], schema: &Schema) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(Arc::new(schema.clone())))
                    .unwrap();
            }
            for b in batches {
                w.write(b).unwrap();
            }
        }
        out
    }

    fn ours(batches: &[RecordBatch], schema: &Schema) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = CsvWriter::new(&mut out);
        for b in batches {
            w.write(b).unwrap();
        }
        w.finish(schema).unwrap();
        out
    }

    fn same(batches: &[RecordBatch], schema: &Schema) {
        let (want, got) = (arrow_csv(batches, schema), ours(batches, schema));
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }

    /// `ints` as another integer type, wrapping as `as` does (so each
    /// width gets its own extremes).
    fn wrapped<A, T>(ints: &[Option<i64>], f: fn(i64) -> T) -> ArrayRef
    where
        A: From<Vec<Option<T>>> + Array + 'static,
    {
        Arc::new(A::from(ints.iter().map(|x| x.map(f)).collect::<Vec<_>>()))
    }

    const AWKWARD: [&str; 10] = [
        "",
        "plain",
        "a,b",
        "say \"hi\"",
        "line\nbreak",
        "cr\r",
        " lead",
        "é ünï",
        "\"",
        ",",
    ];
    const FLOATS: [f64; 21] = [
        0.0,
        -0.0,
        1.0,
        2.0,
        -7.0,
        123456.0,
        1e15,
        9_999_999_999_999_998.0,
        -9_999_999_999_999_998.0,
        2.5,
        0.1,
        1e-7,
        5.604265052028268e-8,
        1e16,
        -1e16,
        1.7976931348623157e308,
        f64::MIN_POSITIVE,
        5e-324,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];

    #[test]
    fn every_type_and_awkward_value_is_written_as_arrows_writer_writes_it() {
        let mut rng = SplitMix64::new(22);
        let n = 600;
        let mut pick = |k: usize| (rng.next_u64() % k as u64) as usize;
        let null = |i: usize| i % 7 == 3;
        let texts: Vec<Option<&str>> = (0..n)
            .map(|i| (!null(i)).then(|| AWKWARD[i % AWKWARD.len()]))
            .collect();
        let floats: Vec<Option<f64>> = (0..n)
            .map(|i| {
                let x = FLOATS[pick(FLOATS.len())] * if i % 2 == 0 { 1.0 } else { -3.7 };
                (!null(i)).then_some(x)
            })
            .collect();
        let ints: Vec<Option<i64>> = (0..n)
            .map(|i| {
                let x = [0, 1, -1, i64::MIN, i64::MAX, 1234567890123][pick(6)];
                (!null(i)).then_some(x)
            })
            .collect();
        let days: Vec<Option<i32>> = (0..n)
            .map(|i| {
                let x = [0, -1, 19_723, -719_528, 2_932_896, 3_000_000, -800_000][pick(7)];
                (!null(i)).then_some(x)
            })
            .collect();
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("utf8", Arc::new(StringArray::from(texts.clone()))),
            ("large", Arc::new(LargeStringArray::from(texts.clone()))),
            ("view", Arc::new(StringViewArray::from(texts.clone()))),
            ("f64", Arc::new(Float64Array::from(floats.clone()))),
            (
                "f32",
                Arc::new(Float32Array::from(
                    floats
                        .iter()
                        .map(|x| x.map(|x| x as f32))
                        .collect::<Vec<_>>(),
                )),
            ),
            ("i64", Arc::new(Int64Array::from(ints.clone()))),
            ("i32", wrapped::<Int32Array, i32>(&ints, |x| x as i32)),
            ("i16", wrapped::<Int16Array, i16>(&ints, |x| x as i16)),
            ("i8", wrapped::<Int8Array, i8>(&ints, |x| x as i8)),
            ("u64", wrapped::<UInt64Array, u64>(&ints, |x| x as u64)),
            ("u32", wrapped::<UInt32Array, u32>(&ints, |x| x as u32)),
            ("u16", wrapped::<UInt16Array, u16>(&ints, |x| x as u16)),
            ("u8", wrapped::<UInt8Array, u8>(&ints, |x| x as u8)),
            (
                "flag",
                Arc::new(BooleanArray::from(
                    ints.iter().map(|x| x.map(|x| x > 0)).collect::<Vec<_>>(),
                )),
            ),
            ("day", Arc::new(Date32Array::from(days.clone()))),
            (
                "at",
                Arc::new(TimestampMicrosecondArray::from(
                    ints.iter()
                        .map(|x| x.map(|x| x / 1_000_000))
                        .collect::<Vec<_>>(),
                )),
            ),
            (
                "money",
                Arc::new(
                    Decimal128Array::from(
                        ints.iter().map(|x| x.map(i128::from)).collect::<Vec<_>>(),
                    )
                    .with_precision_and_scale(38, 3)
                    .unwrap(),
                ),
            ),
        ];
        let schema = Schema::new(
            columns
                .iter()
                .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        let batch = RecordBatch::try_new(
            Arc::new(schema.clone()),
            columns.iter().map(|(_, a)| a.clone()).collect(),
        )
        .unwrap();
        // Whole, in pieces, and as many small batches.
        same(std::slice::from_ref(&batch), &schema);
        let pieces: Vec<RecordBatch> = (0..n)
            .step_by(97)
            .map(|i| batch.slice(i, 97.min(n - i)))
            .collect();
        same(&pieces, &schema);
        // Each column alone: a lone empty field is quoted.
        for (i, (name, _)) in columns.iter().enumerate() {
            let one = batch.project(&[i]).unwrap();
            same(std::slice::from_ref(&one), one.schema().as_ref());
            assert!(!name.is_empty());
        }
    }

    #[test]
    fn an_empty_result_is_its_header_and_awkward_names_are_quoted() {
        let schema = Schema::new(vec![
            Field::new("a,b", DataType::Int64, true),
            Field::new("say \"x\"", DataType::Utf8, true),
        ]);
        same(&[], &schema);
        let lone = Schema::new(vec![Field::new("", DataType::Int64, true)]);
        same(&[], &lone);
        let batch = RecordBatch::try_new(
            Arc::new(lone.clone()),
            vec![Arc::new(Int64Array::from(vec![None, Some(1)]))],
        )
        .unwrap();
        same(&[batch], &lone);
    }
}
