-- The customers a CRM team should call first, one row per alert on the scoring date: whose
-- churn probability rose by more than var churn_alert_rise since their previous scoring, or
-- reached var churn_alert_threshold from below (or on their first scoring, so the first run
-- alerts too). Ranked by the value at stake, expected spend x churn probability, with the three
-- features raising the risk most in plain words (customer_scores.churn_reason_*).
{% set rise = var('churn_alert_rise') %}
{% set threshold = var('churn_alert_threshold') %}
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
        arg_max(scores.churn_probability, scores.as_of) as previous_churn_probability,
        max(scores.as_of) as previous_as_of
    from scores inner join scoring_date on scores.as_of < scoring_date.as_of
    group by scores.customer_id
),

flagged as (
    select
        latest.*,
        previous.previous_churn_probability,
        previous.previous_as_of,
        latest.churn_probability - previous.previous_churn_probability as churn_rise,
        latest.expected_spend * latest.churn_probability as value_at_stake,
        coalesce(latest.churn_probability - previous.previous_churn_probability > {{ rise }}, false) as rose,
        latest.churn_probability >= {{ threshold }}
            and coalesce(previous.previous_churn_probability < {{ threshold }}, true) as crossed
    from latest
    left join previous on previous.customer_id = latest.customer_id
)

select
    row_number() over (order by flagged.value_at_stake desc, flagged.customer_id) as alert_rank,
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
    flagged.expected_spend,
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
from flagged
left join {{ ref('customer_segments') }} as segments on segments.customer_id = flagged.customer_id
where flagged.rose or flagged.crossed
