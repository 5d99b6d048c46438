-- The effect of each retention action, measured once its horizon has passed: per campaign and
-- date it was chosen on, the kept orders and spend over the next H days of the customers who
-- got the action against those held out of it (next_best_action.in_holdout), and the
-- difference with a 95% interval (normal approximation, unequal variances; none with fewer
-- than two customers on a side). Built with the
-- features, where the orders are at hand, from the action history earlier runs published;
-- empty until a horizon has passed.
{% set horizon = var('horizon_days') %}
{%- set history = adapter.get_relation(database=target.database, schema=target.schema,
                                       identifier='next_best_action') %}
with scoring_date as (
    select as_of from {{ ref('int_as_of_dates') }} where purpose = 'scoring'
),

actions as (
    {% if history is not none -%}
    select actions.customer_id, actions.as_of, actions.campaign, actions.treated
    from {{ history }} as actions, scoring_date
    where (actions.treated or actions.in_holdout)
        and {{ dbt.dateadd('day', horizon, 'actions.as_of') }} <= scoring_date.as_of
    {%- else -%}
    select cast(null as string) as customer_id, cast(null as date) as as_of, cast(null as string) as campaign,
           cast(null as boolean) as treated
    where false
    {%- endif %}
),

outcomes as (
    select
        actions.customer_id,
        actions.as_of,
        actions.campaign,
        actions.treated,
        count(orders.order_id) as orders,
        coalesce(sum(orders.amount), 0) as spend
    from actions
    left join {{ ref('int_orders_enriched') }} as orders
        on cast(orders.customer_id as string) = actions.customer_id
        and not orders.is_cancelled
        and orders.ordered_at >= cast(actions.as_of as timestamp)
        and orders.ordered_at < {{ dbt.dateadd('day', horizon, 'cast(actions.as_of as timestamp)') }}
    group by actions.customer_id, actions.as_of, actions.campaign, actions.treated
),

groups as (
    select
        campaign,
        as_of,
        count(*) filter (where treated) as treated_customers,
        count(*) filter (where not treated) as holdout_customers,
        avg(orders) filter (where treated) as treated_orders,
        avg(orders) filter (where not treated) as holdout_orders,
        avg(spend) filter (where treated) as treated_spend,
        avg(spend) filter (where not treated) as holdout_spend,
        -- NULL (no interval) with fewer than two customers on a side: their spread is unknown.
        sqrt(var_samp(orders) filter (where treated) / count(*) filter (where treated)
             + var_samp(orders) filter (where not treated) / count(*) filter (where not treated))
            as orders_standard_error,
        sqrt(var_samp(spend) filter (where treated) / count(*) filter (where treated)
             + var_samp(spend) filter (where not treated) / count(*) filter (where not treated))
            as spend_standard_error
    from outcomes
    group by campaign, as_of
    having count(*) filter (where treated) > 0 and count(*) filter (where not treated) > 0
)

select
    campaign,
    as_of,
    {{ horizon }} as horizon_days,
    treated_customers,
    holdout_customers,
    treated_orders,
    holdout_orders,
    treated_orders - holdout_orders as orders_effect,
    treated_orders - holdout_orders - 1.96 * orders_standard_error as orders_effect_low,
    treated_orders - holdout_orders + 1.96 * orders_standard_error as orders_effect_high,
    treated_spend,
    holdout_spend,
    treated_spend - holdout_spend as spend_effect,
    treated_spend - holdout_spend - 1.96 * spend_standard_error as spend_effect_low,
    treated_spend - holdout_spend + 1.96 * spend_standard_error as spend_effect_high
from groups
