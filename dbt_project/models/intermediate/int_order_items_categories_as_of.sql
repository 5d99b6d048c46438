-- Category affinity per customer as of each date: the category with most units bought
-- before that date and its share of all units.
with lines as (
    select
        orders.customer_id,
        orders.ordered_at,
        coalesce(products.category, 'unknown') as category,
        items.quantity
    from {{ ref('stg_shop__order_items') }} as items
    inner join {{ ref('int_orders_enriched') }} as orders on items.order_id = orders.order_id
    left join {{ ref('stg_shop__products') }} as products on items.product_id = products.product_id
    where not orders.is_cancelled
),

per_category as (
    select spine.customer_id, spine.as_of, lines.category, sum(lines.quantity) as units
    from {{ ref('int_customers_spined') }} as spine
    inner join lines
        on lines.customer_id = spine.customer_id
        and lines.ordered_at < spine.as_of
    group by spine.customer_id, spine.as_of, lines.category
)

select
    customer_id,
    as_of,
    -- Most units first; a tie goes to the category first in alphabetical order.
    min_by(category, {{ clm.tuple_of('-units', 'category') }}) as top_category,
    max(units) / sum(units) as top_category_share
from per_category
group by customer_id, as_of
