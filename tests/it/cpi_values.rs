//! Every shipped CPI checked against values worked out by hand on a tiny
//! fixture (issue 2). The expected numbers come from the comments beside each
//! row, not from cpiq.

use crate::support::{TempWorkspace, scalar};

const SUPPORT: &str = "\
case_id,customer_id,segment,region,channel,category,opened_at,first_response_at,resolved_at,contacts
1,1,consumer,north,phone,billing,2024-01-01 09:00:00,2024-01-01 09:30:00,2024-01-01 10:00:00,1
2,2,consumer,north,email,billing,2024-01-02 09:00:00,2024-01-02 13:00:00,2024-01-03 12:00:00,2
3,3,smb,south,phone,technical,2024-01-03 08:00:00,2024-01-03 08:15:00,2024-01-03 20:00:00,3
4,4,smb,south,chat,account,2024-02-01 10:00:00,2024-02-01 10:06:00,,1
5,5,enterprise,east,email,billing,2024-02-02 00:00:00,,2024-02-02 23:59:59,1
";
// case 1: first response 0.5 h, resolved after 1 h at the first contact
// case 2: first response 4 h, resolved after 27 h, 2 contacts
// case 3: first response 0.25 h, resolved after 12 h, 3 contacts
// case 4: first response 0.1 h, never resolved
// case 5: no first response, resolved after 23:59:59 at the first contact

const ORDERS: &str = "\
order_id,customer_id,segment,region,channel,status,ordered_at,promised_at,delivered_at,items_ordered,items_delivered,damaged
1,1,consumer,north,web,delivered,2024-01-01 10:00:00,2024-01-05 23:59:59,2024-01-04 12:00:00,2,2,false
2,2,consumer,north,app,delivered,2024-01-02 10:00:00,2024-01-06 23:59:59,2024-01-07 09:00:00,3,2,true
3,3,smb,south,web,delivered,2024-01-03 10:00:00,2024-01-07 23:59:59,2024-01-07 23:59:59,1,1,true
4,4,smb,south,store,cancelled,2024-01-04 10:00:00,2024-01-08 23:59:59,,1,0,false
5,5,enterprise,east,web,in_transit,2024-01-05 10:00:00,2024-01-09 23:59:59,,2,0,false
6,6,enterprise,east,app,delivered,2024-01-06 10:00:00,2024-01-10 23:59:59,2024-01-09 08:00:00,4,4,true
7,7,consumer,west,web,delivered,2024-01-07 10:00:00,2024-01-11 23:59:59,2024-01-12 00:00:01,1,1,false
";
// delivered: 1, 2, 3, 6, 7 (4 cancelled, 5 in transit)
// on time (delivered_at <= promised_at): 1, 3 (equal), 6        -> 3/5
// complete (items_delivered >= items_ordered): 1, 3, 6, 7       -> 4/5
// undamaged: 1, 7                                              -> 2/5

const RETURNS: &str = "\
return_id,customer_id,segment,region,channel,reason,requested_at,completed_at
1,1,consumer,north,web,defective,2024-01-10 10:00:00,2024-01-12 10:00:00
2,2,consumer,north,store,wrong_size,2024-01-11 00:00:00,2024-01-18 00:00:00
3,3,smb,south,web,changed_mind,2024-01-12 00:00:00,2024-01-20 00:00:01
4,4,smb,south,web,defective,2024-01-13 00:00:00,
";
// completed after 2 d, exactly 7 d, 8 d + 1 s, never -> within 7 days: 2/4

const QUOTES: &str = "\
quote_id,customer_id,segment,region,channel,requested_at,answered_at
1,1,consumer,north,email,2024-01-01 09:00:00,2024-01-01 09:30:00
2,2,consumer,north,web,2024-01-01 10:00:00,2024-01-01 14:00:00
3,3,smb,south,phone,2024-01-01 11:00:00,2024-01-01 16:00:00
4,4,smb,south,email,2024-01-01 12:00:00,
5,5,enterprise,east,web,2024-01-01 13:00:00,2024-01-02 13:00:00
";
// answered after 0.5 h, exactly 4 h, 5 h, never, 24 h -> within 4 hours: 2/5

fn fixture() -> TempWorkspace {
    TempWorkspace::with_tables(
        &[
            ("support_cases", "support_cases.csv", SUPPORT),
            ("orders", "orders.csv", ORDERS),
            ("returns", "returns.csv", RETURNS),
            ("quote_requests", "quote_requests.csv", QUOTES),
        ],
        "",
    )
}

/// The CPI's overall value, SUM(numerator)/SUM(denominator), via its view.
fn value(ws: &TempWorkspace, cpi: &str, params: &[&str]) -> f64 {
    let sql = format!("SELECT CAST(SUM(numerator) AS DOUBLE) / SUM(denominator) AS v FROM {cpi}");
    let mut args = vec!["sql", sql.as_str(), "--format", "csv"];
    for p in params {
        args.extend(["--param", p]);
    }
    scalar(&ws.cpiq(&args).ok()).parse().unwrap()
}

#[track_caller]
fn close(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-9, "got {got}, want {want}");
}

#[test]
fn the_fixture_loads_without_problems() {
    let ws = fixture();
    let out = ws.cpiq(&["check"]).ok();
    assert!(
        out.contains("4 of 4 tables registered, 8 of 8 CPIs planned"),
        "{out}"
    );
}

#[test]
fn first_contact_resolution_is_first_contact_over_resolved() {
    // resolved: 1, 2, 3, 5; with one contact: 1, 5
    close(
        value(&fixture(), "first_contact_resolution", &[]),
        2.0 / 4.0,
    );
}

#[test]
fn resolved_within_sla_follows_its_hours_parameter() {
    let ws = fixture();
    // 24 h: cases 1 (1 h), 3 (12 h), 5 (86399 s) of 5
    close(value(&ws, "resolved_within_sla", &[]), 3.0 / 5.0);
    // 48 h: case 2 (27 h) too
    close(
        value(&ws, "resolved_within_sla", &["sla_hours=48"]),
        4.0 / 5.0,
    );
    // 12 h: cases 1 and 3 (exactly 12 h counts)
    close(
        value(&ws, "resolved_within_sla", &["sla_hours=12"]),
        2.0 / 5.0,
    );
}

#[test]
fn time_to_first_response_is_mean_hours() {
    // (0.5 + 4 + 0.25 + 0.1) / 4
    close(value(&fixture(), "time_to_first_response", &[]), 4.85 / 4.0);
}

#[test]
fn delivery_cpis_count_delivered_orders_only() {
    let ws = fixture();
    close(value(&ws, "on_time_delivery", &[]), 3.0 / 5.0);
    close(value(&ws, "complete_delivery", &[]), 4.0 / 5.0);
    close(value(&ws, "damage_free_delivery", &[]), 2.0 / 5.0);
}

#[test]
fn return_completed_within_follows_its_days_parameter() {
    let ws = fixture();
    close(value(&ws, "return_completed_within", &[]), 2.0 / 4.0);
    close(
        value(&ws, "return_completed_within", &["days=8"]),
        2.0 / 4.0,
    );
    close(
        value(&ws, "return_completed_within", &["days=9"]),
        3.0 / 4.0,
    );
}

#[test]
fn quote_answered_within_follows_its_hours_parameter() {
    let ws = fixture();
    close(value(&ws, "quote_answered_within", &[]), 2.0 / 5.0);
    close(value(&ws, "quote_answered_within", &["hours=5"]), 3.0 / 5.0);
}

#[test]
fn cpi_views_keep_one_row_per_event_with_dimensions() {
    let ws = fixture();
    let out = ws
        .cpiq(&["sql", "SELECT channel, SUM(numerator) AS n, COUNT(*) AS events FROM on_time_delivery GROUP BY channel ORDER BY channel", "--format", "csv"])
        .ok();
    // app: orders 2 (late), 6 (on time); web: 1, 3 (on time), 7 (late)
    assert_eq!(out, "channel,n,events\napp,1,2\nweb,2,3\n");
}

#[test]
fn injected_parameters_are_refused_before_anything_runs() {
    let ws = fixture();
    let r = ws.cpiq(&[
        "sql",
        "SELECT 1",
        "--param",
        "sla_hours=1; DROP TABLE orders",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("parameter sla_hours: value"),
        "{}",
        r.stderr
    );
    let r = ws.cpiq(&["sql", "SELECT 1", "--param", "nope=1"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("unknown parameter \"nope\""),
        "{}",
        r.stderr
    );
}
