{{ config(post_hook="{{ clm.fill_nulls(this, 'model_family', \"'transformer'\") }}") }}
-- Score history, one row per customer and scoring date, incremental by date (dbt_project.yml):
-- each run replaces its own date's rows and keeps every earlier date. A score column added in
-- a later version of clm is appended; earlier rows read NULL there.
-- The post-hook labels rows scored before clm had model families: they were all transformers.
with staged as (
    select * from {{ source('clm_ml', 'scores_staged') }}
)

select * from staged
{% if not is_incremental() %}
{{ clm.scores_kept_from_before('staged') }}
{% endif %}
