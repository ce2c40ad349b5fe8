-- cpi: first_contact_resolution
-- label: First-contact resolution
-- description: Resolved support cases that needed only the first contact, over resolved cases.
-- unit: percent
-- direction: higher_is_better
-- target: 0.70
-- min_denominator: 30
-- time: opened_at
-- entity: customer_id
-- dimensions: channel, segment, region, category
SELECT opened_at, customer_id, channel, segment, region, category,
       CASE WHEN contacts = 1 THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM support_cases
WHERE resolved_at IS NOT NULL
