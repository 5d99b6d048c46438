{{ config(materialized='view') }}
-- A view: only the review aggregation reads it.
-- Review sentiment from the review text, in [-1, 1]: the mean polarity of the words found in
-- the seed sentiment_lexicon, a word's polarity flipped after "not", "no" or "never".
-- NULL when the review has no text; 0 when no word of it is in the lexicon.
with reviews as (
    select * from {{ ref('stg_shop__reviews') }}
),

tokens as (
    select
        review_id,
        unnest(words) as word,
        generate_subscripts(words, 1) as position
    from (
        select review_id, regexp_extract_all(lower(review_text), '[a-z'']+') as words
        from reviews
        where review_text is not null
    )
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

scored as (
    select review_id, avg(polarity) as sentiment
    from polarities
    group by review_id
)

select
    reviews.*,
    case when reviews.review_text is null then null else coalesce(scored.sentiment, 0) end as sentiment
from reviews
left join scored on scored.review_id = reviews.review_id
