-- Monthly CPI report: every shipped CPI for one month against its target and
-- the same month a year earlier, the two headline CPIs by channel and segment,
-- and on-time delivery per week by region.
--
-- Parameters: month = first day of the month (YYYY-MM-DD),
--             next  = first day of the following month.
--
--   cpiq run queries/jobs/monthly_cpi_report.sql -p month=2025-11-01 -p next=2025-12-01 \
--        --output-dir reports/2025-11 --report reports/2025-11/run.json --fail-on-missed-target

\slice complete_delivery,damage_free_delivery,first_contact_resolution,on_time_delivery,quote_answered_within,resolved_within_sla,return_completed_within,time_to_first_response per month from ${month} to ${next} compare year
\export 'cpi_scorecard.parquet'

\slice on_time_delivery,first_contact_resolution by channel, segment per month from ${month} to ${next}
\export 'cpi_by_channel_segment.parquet'

COPY (SELECT * FROM cpi_slice('on_time_delivery', 'region', 'week', '${month}', '${next}'))
  TO 'on_time_delivery_weekly_by_region.parquet';
