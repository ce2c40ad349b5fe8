-- cpi: complete_delivery
-- label: Complete deliveries
-- description: Delivered orders that arrived with every item ordered, over delivered orders.
-- unit: percent
-- direction: higher_is_better
-- target: 0.97
-- min_denominator: 30
-- time: promised_at
-- entity: customer_id
-- dimensions: channel, segment, region
SELECT promised_at, customer_id, channel, segment, region,
       CASE WHEN items_delivered >= items_ordered THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM orders
WHERE status = 'delivered'
