-- Review behaviour per customer as of each date, from reviews written strictly before it.
select
    spine.customer_id,
    spine.as_of,
    count(reviews.review_id) as review_count,
    avg(reviews.rating) as mean_rating,
    avg(case when reviews.rating <= 2 then 1 else 0 end) as negative_review_share,
    max_by(reviews.rating, reviews.reviewed_at) as last_review_rating,
    avg(reviews.sentiment) as mean_review_sentiment,
    max_by(reviews.sentiment, reviews.reviewed_at) as last_review_sentiment,
    max_by(reviews.review_text, reviews.reviewed_at) as last_review_text
from {{ ref('int_customers_spined') }} as spine
inner join {{ ref('int_reviews_scored') }} as reviews
    on reviews.customer_id = spine.customer_id
    and reviews.reviewed_at < spine.as_of
group by spine.customer_id, spine.as_of
