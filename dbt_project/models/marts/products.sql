-- The product catalogue, one row per product that keeps the contract's rules: what the
-- recommendations name.
select product_id, product_name, category, price
from {{ ref('stg_shop__products') }}
