{{ config(materialized='view') }}
-- depends_on: {{ ref('sentiment_lexicon') }} (read by the macro lexicon_sentiment)
-- Every review with the sentiment of its text. The review sentiment classifier's score (MiniLM
-- fine-tuned on the shop's star ratings, ml/training/review_classifier.py) where the pipeline wrote one into
-- review_sentiment_staged; else the lexicon's (macro lexicon_sentiment). NULL when the review
-- has no text. Both are kept, so they can be compared.
-- A view: the review aggregation and the published review_sentiment read it.
with reviews as (
    select * from {{ ref('stg_shop__reviews') }}
),

lexicon_scored as (
    {{ lexicon_sentiment('reviews', 'review_id', 'review_text') }}
),

classified as (
    {{ clm_ml_table_or_empty('review_sentiment_staged', {'review_text': 'string', 'sentiment_label': 'string',
                                                         'sentiment_score': 'double', 'model_version': 'integer'}) }}
),

lexicon_labelled as (
    select
        reviews.*,
        case when reviews.review_text is not null then coalesce(lexicon_scored.lexicon_sentiment, 0) end
            as lexicon_sentiment
    from reviews
    left join lexicon_scored on lexicon_scored.review_id = reviews.review_id
),

both_scored as (
    select
        lexicon_labelled.*,
        {{ sentiment_label('lexicon_sentiment') }} as lexicon_label,
        classified.sentiment_label as classifier_label,
        classified.sentiment_score as classifier_sentiment,
        classified.model_version as sentiment_model_version
    from lexicon_labelled
    left join classified on classified.review_text = lexicon_labelled.review_text
)

select
    *,
    coalesce(classifier_sentiment, lexicon_sentiment) as sentiment,
    coalesce(classifier_label, lexicon_label) as sentiment_label,
    case
        when classifier_label is not null then 'classifier'
        when lexicon_label is not null then 'lexicon'
    end as sentiment_source
from both_scored
