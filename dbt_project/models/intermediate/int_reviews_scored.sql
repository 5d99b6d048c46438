{{ config(materialized='view') }}
-- Every review with the sentiment of its text. The review sentiment classifier's score (MiniLM
-- fine-tuned on the shop's star ratings, ml/training/review_classifier.py) where the pipeline wrote one into
-- review_sentiment_staged; else the lexicon's: the mean polarity of the words found in the seed
-- sentiment_lexicon, a word's polarity flipped after "not", "no" or "never" (0 when no word of
-- it is there). NULL when the review has no text. Both are kept, so they can be compared.
-- A view: the review aggregation and the published review_sentiment read it.
{%- set classifier = adapter.get_relation(database=target.database, schema=target.schema,
                                          identifier='review_sentiment_staged') %}
with reviews as (
    select * from {{ ref('stg_shop__reviews') }}
),

tokens as (
    select
        review_id,
        {{ clm.unnest_with_position('words', 'word', 'position') }}
    from (
        select review_id, {{ clm.regexp_matches('lower(review_text)', "'[a-z'']+'") }} as words
        from reviews
        where review_text is not null
    ) as texts
),

polarities as (
    select
        tokens.review_id,
        lexicon.polarity
            * case when lag(tokens.word) over (partition by tokens.review_id order by tokens.position)
                        in ('not', 'no', 'never') then -1 else 1 end as polarity
    from tokens
    left join {{ ref('sentiment_lexicon') }} as lexicon on lexicon.word = tokens.word
),

lexicon_scored as (
    select review_id, avg(polarity) as lexicon_sentiment
    from polarities
    group by review_id
),

classified as (
    {% if classifier is not none -%}
    select review_text, sentiment_label, sentiment_score, model_version
    from {{ source('clm_ml', 'review_sentiment_staged') }}
    {%- else -%}
    select cast(null as string) as review_text, cast(null as string) as sentiment_label,
           cast(null as double) as sentiment_score, cast(null as integer) as model_version
    where false
    {%- endif %}
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
