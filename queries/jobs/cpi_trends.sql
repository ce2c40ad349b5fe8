-- CPI trends and what they lead: the two headline CPIs per month by channel,
-- drawn against their targets, and their correlation with the monthly KPIs.
-- Made for the HTML report:
--
--   cpiq report queries/jobs/cpi_trends.sql --html reports/cpi_trends.html
--
-- Parameters: from = first day of the history to show (YYYY-MM-DD).

\slice on_time_delivery,first_contact_resolution by channel per month from ${from}
\chart 'cpi_trends.svg'

\correlate first_contact_resolution,on_time_delivery with kpi_monthly.nps,kpi_monthly.churn_rate per month lags 0..3
\chart 'cpi_kpi_scatter.svg'
