//! Real public data (issue 2): on-time delivery on the Olist orders, read
//! from ../shared/realdata as CSV, against an independent count in Rust.

use crate::support::{TempWorkspace, realdata, scalar};

/// Split one line of the Olist CSV (quoted or bare fields, no commas inside).
fn fields(line: &str) -> Vec<String> {
    line.split(',')
        .map(|f| f.trim().trim_matches('"').to_string())
        .collect()
}

#[test]
fn on_time_delivery_on_olist_orders_matches_an_independent_count() {
    let src = realdata().join("olist-sample/olist_orders_dataset.csv");
    let text = std::fs::read_to_string(&src).expect("the shared real data is present");
    // Independent computation: delivered orders with a delivery date; on time
    // when delivered on or before the estimated day (calendar days).
    let mut lines = text.lines();
    let header = fields(lines.next().unwrap());
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (status, delivered, estimated) = (
        col("order_status"),
        col("order_delivered_customer_date"),
        col("order_estimated_delivery_date"),
    );
    let (mut on_time, mut total) = (0u32, 0u32);
    for line in lines {
        let f = fields(line);
        if f[status] != "delivered" || f[delivered].is_empty() {
            continue;
        }
        total += 1;
        if f[delivered][..10] <= f[estimated][..10] {
            on_time += 1;
        }
    }
    assert!(
        total > 3000,
        "expected thousands of delivered orders, got {total}"
    );
    let expected = on_time as f64 / total as f64;

    // The same indicator as a cpiq CPI over the CSV file, copied into a
    // temporary workspace (never into the repository).
    let ws = TempWorkspace::with_own_cpis(
        &[("olist_orders", "olist_orders.csv", &text)],
        &[(
            "olist_on_time.sql",
            "-- cpi: olist_on_time\n-- label: On-time delivery (Olist)\n-- unit: percent\n-- direction: higher_is_better\n-- target: 0.9\n-- time: estimated_at\n-- dimensions: order_status\n\
SELECT order_estimated_delivery_date AS estimated_at, order_status,\n\
       CASE WHEN CAST(order_delivered_customer_date AS DATE) <= CAST(order_estimated_delivery_date AS DATE) THEN 1 ELSE 0 END AS numerator,\n\
       1 AS denominator\n\
FROM olist_orders\n\
WHERE order_status = 'delivered' AND order_delivered_customer_date IS NOT NULL\n",
        )],
    );
    let got: f64 = scalar(
        &ws.cpiq(&[
            "sql",
            "SELECT CAST(SUM(numerator) AS DOUBLE) / SUM(denominator) FROM olist_on_time",
        ])
        .ok(),
    )
    .parse()
    .unwrap();
    assert!(
        (got - expected).abs() < 1e-12,
        "cpiq {got} vs independent {expected} ({on_time}/{total})"
    );
    assert!(got > 0.8 && got < 1.0, "{got}");
}
