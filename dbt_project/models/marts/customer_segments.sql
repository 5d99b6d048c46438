-- Segments and this run's scores, one row per customer as of the scoring date.
-- value_tier is the model's forecast of next-H-day spend; historic_value_tier ranks past spend.
-- RFM scores are 1-5 by percent rank among customers who have bought; ties share a score.
with features as (
    select * from {{ ref('customer_features') }}
),

scored as (
    select * from {{ ref('customer_scores') }}
),

buyers as (
    select
        customer_id,
        cast(least(5, 1 + floor(5 * percent_rank() over (order by recency_days desc))) as integer) as r_score,
        cast(least(5, 1 + floor(5 * percent_rank() over (order by frequency))) as integer) as f_score,
        cast(least(5, 1 + floor(5 * percent_rank() over (order by monetary))) as integer) as m_score,
        percent_rank() over (order by monetary) as monetary_rank
    from features
    where frequency > 0
)

select
    features.customer_id,
    features.as_of,
    features.recency_days,
    features.frequency,
    features.monetary,
    buyers.r_score,
    buyers.f_score,
    buyers.m_score,
    rules.segment as rfm_segment,
    {{ lifecycle_stage('features.frequency', 'features.recency_days', 'features.days_since_first_order',
                       'features.tenure_days', 'features.last_order_gap_days', 'features.mean_interpurchase_days') }}
        as lifecycle_stage,
    {{ value_tier('buyers.monetary_rank') }} as historic_value_tier,
    coalesce({{ sentiment_label('features.mean_review_sentiment') }}, 'no reviews') as review_sentiment_segment,
    scored.value_tier,
    scored.churn_probability,
    scored.expected_orders,
    scored.expected_spend,
    scored.expected_next_order_date,
    scored.model_name,
    scored.model_version,
    scored.model_family
from features
left join buyers on buyers.customer_id = features.customer_id
left join {{ ref('rfm_segments') }} as rules
    on rules.r_score = buyers.r_score and rules.f_score = buyers.f_score
left join scored on scored.customer_id = features.customer_id and scored.as_of = features.as_of
