-- Orders with their line totals and the gap since the customer's previous kept order.
with orders as (
    select * from {{ ref('stg_shop__orders') }}
),

lines as (
    select
        order_id,
        sum(quantity) as items,
        sum(unit_price * quantity) as gross_amount,
        sum(discount * quantity) as discount_amount
    from {{ ref('stg_shop__order_items') }}
    group by order_id
),

joined as (
    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.amount,
        orders.status,
        orders.status = 'cancelled' as is_cancelled,
        orders.status = 'returned' as is_returned,
        lines.items,
        lines.gross_amount,
        lines.discount_amount
    from orders
    left join lines on orders.order_id = lines.order_id
)

select
    *,
    -- Gaps between kept orders: cancelled ones form their own partition and get none.
    case when not is_cancelled then
        {{ clm.fractional_days('lag(ordered_at) over (partition by customer_id, is_cancelled order by ordered_at, order_id)',
                               'ordered_at') }}
    end as days_since_previous_order
from joined
