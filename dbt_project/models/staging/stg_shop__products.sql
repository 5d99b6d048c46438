{{ config(materialized='table') }}
-- A table: the contract's orphan checks look rows up in it (against a view, DuckDB would
-- first copy the rows being checked).
-- Products that keep every contract rule; category lower case, 'unknown' when missing.
select
    product_id,
    product_name,
    coalesce(lower(trim(category)), 'unknown') as category,
    price
from {{ ref('base_shop__products') }}
where broken_rule is null
