{#- Make the shop's raw tables readable as the source `shop` (an on-run-start hook).
    DuckDB reads the landed Parquet files where they lie (the source's external_location).
    Spark reads tables in the schema CLM_SPARK_RAW_SCHEMA: where that is left unset, clm keeps
    the schema `raw` as views over the files `clm ingest` landed; a lakehouse that holds the raw
    tables already names their schema and nothing is registered. -#}
{% macro register_raw_tables() -%}
    {{ return(adapter.dispatch('register_raw_tables', 'clm')()) }}
{%- endmacro %}

{% macro default__register_raw_tables() -%}
{%- endmacro %}

{% macro spark__register_raw_tables() -%}
    {%- if execute and not env_var('CLM_SPARK_RAW_SCHEMA', '') -%}
        {%- set raw_dir = env_var('CLM_RAW_DIR', '../.clm/raw') -%}
        {%- do run_query('create schema if not exists raw') -%}
        {%- for source in graph.sources.values() if source.source_name == 'shop' -%}
            {%- do run_query('create or replace view raw.' ~ source.name
                             ~ ' as select * from parquet.`' ~ raw_dir ~ '/' ~ source.name ~ '.parquet`') -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
