-- cpi: on_time_delivery
-- label: On-time delivery rate
-- description: Delivered orders that arrived by the promised date, over delivered orders.
-- unit: percent
-- direction: higher_is_better
-- target: 0.95
-- min_denominator: 30
-- time: promised_at
-- entity: customer_id
-- dimensions: channel, segment, region
SELECT promised_at, customer_id, channel, segment, region,
       CASE WHEN delivered_at <= promised_at THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM orders
WHERE status = 'delivered'
