-- cpi: callback_within
-- label: Callbacks within X hours
-- description: Callback requests called back within `hours` hours of the request, over all callback requests.
-- unit: percent
-- direction: higher_is_better
-- target: 0.7
-- min_denominator: 30
-- time: requested_at
-- entity: customer_id
-- dimensions: segment, region
-- param: hours = 24
SELECT requested_at, customer_id, segment, region,
       CASE WHEN called_at IS NOT NULL
             AND date_part('epoch', called_at) - date_part('epoch', requested_at) <= ${hours} * 3600
            THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM callbacks
