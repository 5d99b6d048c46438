{{ config(materialized='view') }}
-- A view: only the spine reads it.
-- Every customer the shop knows, from the customer table and the order log (a shop with only
-- an order log still gets all its customers), with the moment the shop first saw them.
with customers as (
    select customer_id, signed_up_at from {{ ref('stg_shop__customers') }}
),

first_orders as (
    select customer_id, min(ordered_at) as first_order_at
    from {{ ref('stg_shop__orders') }}
    group by customer_id
)

select
    coalesce(customers.customer_id, first_orders.customer_id) as customer_id,
    least(
        coalesce(customers.signed_up_at, first_orders.first_order_at),
        coalesce(first_orders.first_order_at, customers.signed_up_at)
    ) as first_seen_at
from customers
full outer join first_orders on customers.customer_id = first_orders.customer_id
