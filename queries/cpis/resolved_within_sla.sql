-- cpi: resolved_within_sla
-- label: Requests resolved within the SLA
-- description: Support cases resolved within sla_hours of being opened, over all cases opened (unresolved cases count as not resolved in time).
-- unit: percent
-- direction: higher_is_better
-- target: 0.85
-- min_denominator: 30
-- time: opened_at
-- entity: customer_id
-- dimensions: channel, segment, region, category
-- param: sla_hours = 24
SELECT opened_at, customer_id, channel, segment, region, category,
       CASE WHEN resolved_at IS NOT NULL
             AND date_part('epoch', resolved_at) - date_part('epoch', opened_at) <= ${sla_hours} * 3600
            THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM support_cases
