-- cpi: damage_free_delivery
-- label: Damage-free deliveries
-- description: Delivered orders that arrived undamaged, over delivered orders.
-- unit: percent
-- direction: higher_is_better
-- target: 0.98
-- min_denominator: 30
-- time: promised_at
-- entity: customer_id
-- dimensions: channel, segment, region
SELECT promised_at, customer_id, channel, segment, region,
       CASE WHEN damaged THEN 0 ELSE 1 END AS numerator,
       1 AS denominator
FROM orders
WHERE status = 'delivered'
