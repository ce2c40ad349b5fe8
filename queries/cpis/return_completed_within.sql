-- cpi: return_completed_within
-- label: Returns completed within X days
-- description: Return requests completed (refund or exchange done) within `days` days of the request, over all return requests: how easy returning is.
-- unit: percent
-- direction: higher_is_better
-- target: 0.85
-- min_denominator: 30
-- time: requested_at
-- entity: customer_id
-- dimensions: channel, segment, region, reason
-- param: days = 7
SELECT requested_at, customer_id, channel, segment, region, reason,
       CASE WHEN completed_at IS NOT NULL
             AND date_part('epoch', completed_at) - date_part('epoch', requested_at) <= ${days} * 86400
            THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM returns
