-- cpi: quote_answered_within
-- label: Quotes answered within X hours
-- description: Quote requests answered within `hours` hours of the request, over all quote requests.
-- unit: percent
-- direction: higher_is_better
-- target: 0.85
-- min_denominator: 30
-- time: requested_at
-- entity: customer_id
-- dimensions: channel, segment, region
-- param: hours = 4
SELECT requested_at, customer_id, channel, segment, region,
       CASE WHEN answered_at IS NOT NULL
             AND date_part('epoch', answered_at) - date_part('epoch', requested_at) <= ${hours} * 3600
            THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM quote_requests
