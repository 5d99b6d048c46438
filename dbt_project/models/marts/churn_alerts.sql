-- The customers a CRM team should call first, one row per alert on the scoring date, at most
-- var churn_alert_capacity of them: the flagged customers with the most value at stake,
-- expected spend x churn probability, with the three features raising the risk most in plain
-- words (customer_scores.churn_reason_*). The bars are the shop's own, so the list stays short
-- whether a shop loses 5% or 85% of its customers in a horizon: flagged are those whose churn
-- probability
--   * reached the threshold from below (or on their first scoring, so the first run alerts
--     too): churn odds var churn_alert_odds_ratio times the shop's base odds, the mean churn
--     probability of the scoring date;
--   * or rose since their previous scoring by more than the model's own noise: var
--     churn_alert_rise_noise standard deviations of every customer's change between the two
--     scorings (most customers' lives did not change), and at least var churn_alert_rise.
{% set odds_ratio = var('churn_alert_odds_ratio') %}
{% set rise_noise = var('churn_alert_rise_noise') %}
{% set rise_floor = var('churn_alert_rise') %}
with scores as (
    select * from {{ ref('customer_scores') }}
),

scoring_date as (
    select max(as_of) as as_of from {{ ref('customer_features') }}
),

latest as (
    select scores.* from scores inner join scoring_date on scores.as_of = scoring_date.as_of
),

previous as (
    select
        scores.customer_id,
        max_by(scores.churn_probability, scores.as_of) as previous_churn_probability,
        max(scores.as_of) as previous_as_of
    from scores inner join scoring_date on scores.as_of < scoring_date.as_of
    group by scores.customer_id
),

base as (
    select greatest(avg(churn_probability), 1e-9) / greatest(1 - avg(churn_probability), 1e-9) as base_odds
    from latest
),

changes as (
    select stddev_samp(latest.churn_probability - previous.previous_churn_probability) as change_sd
    from latest
    inner join previous on previous.customer_id = latest.customer_id
),

bars as (
    select
        {{ odds_ratio }} * base.base_odds / (1 + {{ odds_ratio }} * base.base_odds) as alert_threshold,
        greatest({{ rise_floor }}, {{ rise_noise }} * coalesce(changes.change_sd, 0)) as alert_rise
    from base
    cross join changes
),

flagged as (
    select
        latest.*,
        previous.previous_churn_probability,
        previous.previous_as_of,
        latest.churn_probability - previous.previous_churn_probability as churn_rise,
        latest.expected_spend * latest.churn_probability as value_at_stake,
        bars.alert_threshold,
        bars.alert_rise,
        coalesce(latest.churn_probability - previous.previous_churn_probability > bars.alert_rise, false) as rose,
        latest.churn_probability >= bars.alert_threshold
            and coalesce(previous.previous_churn_probability < bars.alert_threshold, true) as crossed
    from latest
    cross join bars
    left join previous on previous.customer_id = latest.customer_id
),

ranked as (
    select
        *,
        row_number() over (order by value_at_stake desc, customer_id) as alert_rank
    from flagged
    where rose or crossed
)

select
    flagged.alert_rank,
    flagged.customer_id,
    flagged.as_of,
    case
        when flagged.rose and flagged.crossed then 'rose and crossed the threshold'
        when flagged.rose then 'rose'
        else 'crossed the threshold'
    end as alert_trigger,
    flagged.churn_probability,
    flagged.previous_churn_probability,
    flagged.previous_as_of,
    flagged.churn_rise,
    flagged.alert_threshold,
    flagged.alert_rise,
    flagged.expected_spend,
    flagged.expected_next_order_date,
    flagged.value_at_stake,
    flagged.value_tier,
    segments.rfm_segment,
    segments.lifecycle_stage,
    flagged.churn_reason_1,
    flagged.churn_reason_2,
    flagged.churn_reason_3,
    flagged.model_name,
    flagged.model_version,
    flagged.model_family
from ranked as flagged
left join {{ ref('customer_segments') }} as segments on segments.customer_id = flagged.customer_id
where flagged.alert_rank <= {{ var('churn_alert_capacity') }}
