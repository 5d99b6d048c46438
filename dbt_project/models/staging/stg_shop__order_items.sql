{{ config(materialized='table') }}
-- Order lines that keep every contract rule; quantity defaults to 1 and discount to 0.
-- A table: the default line ids are a window function, and several models and tests read the
-- lines.
select
    coalesce(order_item_id, order_id || '-' || cast(row_number() over (partition by order_id order by product_id) as string))
        as order_item_id,
    order_id,
    product_id,
    coalesce(quantity, 1) as quantity,
    unit_price,
    coalesce(discount, 0) as discount
from {{ ref('base_shop__order_items') }}
where broken_rule is null
