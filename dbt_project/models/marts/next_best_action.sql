-- One action per scored customer and scoring date, from the rule table analysts edit (seed
-- retention_rules): the rule of the customer's risk band, value tier and RFM segment, a rule
-- naming the segment before the one for any segment ('*'). A deterministic share of each
-- action's customers (var campaign_holdout_share, by a hash of customer and action, so a
-- customer stays in or out of an action's holdout from one day to the next) is held out: they
-- get no action, and campaign_effect compares them with the treated. History is kept, one
-- scoring date per run, incremental like customer_scores (dbt_project.yml).
with segments as (
    select * from {{ ref('customer_segments') }}
),

banded as (
    select
        customer_id,
        as_of,
        churn_probability,
        expected_spend,
        {{ risk_band('churn_probability') }} as risk_band,
        value_tier,
        coalesce(rfm_segment, 'no orders yet') as rfm_segment,
        model_version
    from segments
),

matched as (
    select
        banded.*,
        rules.action,
        rules.cost_per_customer,
        rules.rfm_segment as rule_segment,
        row_number() over (partition by banded.customer_id order by rules.rfm_segment = '*') as precedence
    from banded
    inner join {{ ref('retention_rules') }} as rules
        on rules.risk_band = banded.risk_band
        and rules.value_tier = banded.value_tier
        and rules.rfm_segment in (banded.rfm_segment, '*')
),

chosen as (
    select
        *,
        action <> 'no action'
            and {{ clm.hash_bucket("customer_id || '|' || action", 10000) }}
                < {{ var('campaign_holdout_share') }} * 10000 as in_holdout
    from matched
    where precedence = 1
)

select
    customer_id,
    as_of,
    risk_band,
    value_tier,
    rfm_segment,
    rule_segment,
    action,
    action as campaign,
    in_holdout,
    action <> 'no action' and not in_holdout as treated,
    case when action <> 'no action' and not in_holdout then cost_per_customer else 0 end as cost,
    churn_probability,
    expected_spend,
    expected_spend * churn_probability as value_at_stake,
    model_version
from chosen
