-- Products that keep every contract rule; category lower case, 'unknown' when missing.
select
    product_id,
    product_name,
    coalesce(lower(trim(category)), 'unknown') as category,
    price
from {{ ref('base_shop__products') }}
where broken_rule is null
