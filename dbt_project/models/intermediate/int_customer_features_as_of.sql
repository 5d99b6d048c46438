{{ config(materialized='view') }}
-- A view: each mart reads its own dates from it, so the wide rows are never written twice.
-- The customer 360 at every as-of date of the run: one row per customer and date.
-- The marts pick the scoring date (customer_features) or the cutoffs (training_examples).
with spine as (
    select * from {{ ref('int_customers_spined') }}
),

orders as (select * from {{ ref('int_orders_aggregated_as_of') }}),
categories as (select * from {{ ref('int_order_items_categories_as_of') }}),
events as (select * from {{ ref('int_events_aggregated_as_of') }}),
reviews as (select * from {{ ref('int_reviews_aggregated_as_of') }}),
tickets as (select * from {{ ref('int_tickets_aggregated_as_of') }}),
marketing as (select * from {{ ref('int_marketing_aggregated_as_of') }})

select
    spine.customer_id,
    spine.as_of,
    spine.purpose,
    {{ dbt.datediff('spine.first_seen_at', 'cast(spine.as_of as timestamp)', 'day') }} as tenure_days,
    {{ dbt.datediff('orders.last_order_at', 'cast(spine.as_of as timestamp)', 'day') }} as recency_days,
    orders.frequency,
    orders.monetary,
    orders.monetary / nullif(orders.frequency, 0) as avg_order_value,
    {{ dbt.datediff('orders.first_order_at', 'cast(spine.as_of as timestamp)', 'day') }} as days_since_first_order,
    orders.last_order_gap_days,
    orders.mean_interpurchase_days,
    orders.median_interpurchase_days,
    orders.std_interpurchase_days,
    orders.avg_items_per_order,
    coalesce(orders.discount_share, 0) as discount_share,
    coalesce(orders.cancel_rate, 0) as cancel_rate,
    coalesce(orders.return_rate, 0) as return_rate,
    orders.orders_last_30d,
    orders.orders_prev_30d,
    orders.spend_last_30d,
    orders.spend_prev_30d,
    orders.spend_last_30d - orders.spend_prev_30d as spend_trend_30d,
    events.sessions,
    events.sessions * 7.0 / greatest({{ dbt.datediff('spine.first_seen_at', 'cast(spine.as_of as timestamp)', 'day') }}, 1)
        as sessions_per_week,
    events.product_views,
    events.add_to_carts,
    events.purchase_events,
    events.add_to_carts / nullif(events.product_views, 0) as view_to_cart_rate,
    events.purchase_events / nullif(events.add_to_carts, 0) as cart_to_purchase_rate,
    events.sessions_last_30d,
    events.sessions_prev_30d,
    categories.top_category,
    categories.top_category_share,
    coalesce(reviews.review_count, 0) as review_count,
    reviews.mean_rating,
    reviews.negative_review_share,
    reviews.last_review_rating,
    reviews.mean_review_sentiment,
    reviews.last_review_sentiment,
    reviews.last_review_text,
    coalesce(marketing.campaigns_received, 0) as campaigns_received,
    coalesce(marketing.campaigns_received_last_30d, 0) as campaigns_received_last_30d,
    coalesce(marketing.coupons_redeemed, 0) as coupons_redeemed,
    coalesce(marketing.coupons_redeemed_last_30d, 0) as coupons_redeemed_last_30d,
    coalesce(tickets.tickets_last_30d, 0) as tickets_last_30d,
    coalesce(tickets.complaints_last_30d, 0) as complaints_last_30d,
    coalesce(tickets.cancel_requests_last_30d, 0) as cancel_requests_last_30d,
    tickets.days_since_last_ticket,
    tickets.last_ticket_intent,
    tickets.last_ticket_sentiment
from spine
inner join orders on orders.customer_id = spine.customer_id and orders.as_of = spine.as_of
inner join events on events.customer_id = spine.customer_id and events.as_of = spine.as_of
left join categories on categories.customer_id = spine.customer_id and categories.as_of = spine.as_of
left join reviews on reviews.customer_id = spine.customer_id and reviews.as_of = spine.as_of
left join marketing on marketing.customer_id = spine.customer_id and marketing.as_of = spine.as_of
left join tickets on tickets.customer_id = spine.customer_id and tickets.as_of = spine.as_of
