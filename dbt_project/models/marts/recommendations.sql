-- Top-K products per customer on the scoring date (ml/actions/recommendations.py, written by the recommend
-- step): products they buy again (source repeat), products bought with theirs (co-purchase),
-- popular ones for the rest and for customers without a purchase.
select
    recommendations.customer_id,
    recommendations.product_id,
    products.product_name,
    products.category,
    recommendations.rank,
    recommendations.score,
    recommendations.source,
    cast(recommendations.as_of as date) as as_of
from {{ source('clm_ml', 'recommendations_staged') }} as recommendations
left join {{ ref('products') }} as products on products.product_id = recommendations.product_id
