-- Every review written before the scoring date with the sentiment of its text: the review
-- sentiment classifier's where it scored the text, else the lexicon's (sentiment_source says
-- which), the lexicon's always beside it, and the sentiment its stars state.
select
    review_id,
    customer_id,
    product_id,
    order_id,
    reviewed_at,
    rating,
    case when rating <= 2 then 'negative' when rating < 4 then 'neutral' else 'positive' end as star_sentiment,
    review_text,
    sentiment_label,
    sentiment,
    sentiment_source,
    sentiment_model_version,
    lexicon_label,
    lexicon_sentiment
from {{ ref('int_reviews_scored') }}
where review_text is not null
    and reviewed_at < (select as_of from {{ ref('int_as_of_dates') }} where purpose = 'scoring')
