-- cpi: time_to_first_response
-- label: Time to first response
-- description: Mean hours from opening a support case to the first response, over cases that got one.
-- unit: hours
-- direction: lower_is_better
-- target: 2.0
-- min_denominator: 30
-- time: opened_at
-- entity: customer_id
-- dimensions: channel, segment, region, category
SELECT opened_at, customer_id, channel, segment, region, category,
       (date_part('epoch', first_response_at) - date_part('epoch', opened_at)) / 3600.0 AS numerator,
       1 AS denominator
FROM support_cases
WHERE first_response_at IS NOT NULL
