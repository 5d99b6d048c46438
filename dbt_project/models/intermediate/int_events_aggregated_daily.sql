{#- On Spark a table, rebuilt each run: a partition per day of events is thousands of small files. -#}
{{
    config(
        materialized='table' if target.type == 'spark' else 'incremental',
        incremental_strategy='delete+insert',
        unique_key='event_date',
    )
}}
-- Clickstream rolled up to one row per customer, day and session: the grain every as-of date
-- reuses, so events are scanned once however many cutoffs a run computes. Counting a
-- period's rows counts its sessions per day, so no second roll-up to days is needed. Events
-- without a session id form one row per customer and day: one session. Ids keep the export's
-- type: customer_id becomes text in int_events_aggregated_as_of, after the sum per period,
-- where there are fewer rows to cast (docs/decisions/0012-feature-sums-per-period.md).
-- Incremental: a run re-reads only the last `events_lookback_days` days (late events, a day
-- re-run) and replaces those days whole. A fresh ingest rebuilds it from scratch.
select
    customer_id,
    cast(occurred_at as date) as event_date,
    session_id,
    count(*) filter (where event_type = 'product_view') as product_views,
    count(*) filter (where event_type = 'add_to_cart') as add_to_carts,
    count(*) filter (where event_type = 'purchase') as purchases
from {{ ref('stg_shop__events') }}
{% if is_incremental() %}
where occurred_at >= (
    select {{ dbt.dateadd('day', -var('events_lookback_days'), "coalesce(max(event_date), date '1900-01-01')") }}
    from {{ this }}
)
{% endif %}
group by customer_id, cast(occurred_at as date), session_id
