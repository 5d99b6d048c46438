-- The as-of dates as consecutive periods: rows dated in [period_start, as_of) count for as_of
-- and for every later date. Aggregations sum their rows once per period, then add up the
-- periods before each date, instead of joining every row to every date.
-- The 30-day trend windows of each date are defined here too, once for events and orders:
-- [last_30d_start, as_of) and [prev_30d_start, last_30d_start).
select
    as_of,
    lag(as_of, 1, date '0001-01-01') over (order by as_of) as period_start,
    cast({{ dbt.dateadd('day', -30, 'as_of') }} as date) as last_30d_start,
    cast({{ dbt.dateadd('day', -60, 'as_of') }} as date) as prev_30d_start
from (select distinct as_of from {{ ref('int_as_of_dates') }})
