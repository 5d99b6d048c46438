-- Reviews that keep every contract rule.
select
    -- Shops that export no review id get a stable one from the review's content.
    coalesce(review_id, md5(customer_id || cast(reviewed_at as string) || coalesce(review_text, ''))) as review_id,
    customer_id, product_id, order_id, rating, review_text, reviewed_at
from {{ ref('base_shop__reviews') }}
where broken_rule is null
