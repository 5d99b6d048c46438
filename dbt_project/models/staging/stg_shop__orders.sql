{{ config(materialized='table') }}
-- A table: the contract's orphan checks look rows up in it (against a view, DuckDB would
-- first copy the rows being checked).
-- Orders that keep every contract rule; the others are in quarantine_orders.
select order_id, customer_id, ordered_at, amount, status
from {{ ref('base_shop__orders') }}
where broken_rule is null
