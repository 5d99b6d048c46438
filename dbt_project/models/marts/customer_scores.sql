{{ config(post_hook="update {{ this }} set model_family = 'transformer' where model_family is null") }}
-- Score history, one row per customer and scoring date, incremental by date (dbt_project.yml):
-- each run replaces its own date's rows and keeps every earlier date. A score column added in
-- a later version of clm is appended; earlier rows read NULL there.
-- The post-hook labels rows scored before clm had model families: they were all transformers.
with staged as (
    select * from {{ source('clm_ml', 'scores_staged') }}
)

select * from staged

{% if not is_incremental() %}
{#- First build in this warehouse: keep the history a clm from before this model published. -#}
{%- set published = adapter.get_relation(database=target.database, schema='analytics', identifier='customer_scores') -%}
{%- if published is not none %}
union all by name
select * from {{ published }}
where as_of not in (select as_of from staged)
{%- endif %}
{% endif %}
