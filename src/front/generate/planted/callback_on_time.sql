-- cpi: callback_on_time
-- label: Callbacks made by the promised time
-- description: Callback requests called back no later than the time promised to the customer, over all callback requests.
-- unit: percent
-- direction: higher_is_better
-- target: 0.8
-- min_denominator: 30
-- time: requested_at
-- entity: customer_id
-- dimensions: segment, region
SELECT requested_at, customer_id, segment, region,
       CASE WHEN called_at IS NOT NULL AND called_at <= promised_at THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM callbacks
