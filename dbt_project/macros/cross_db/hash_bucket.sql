{#- A stable bucket in [0, buckets) of a text: the first 32 bits of its MD5, modulo buckets. The
    same text gets the same bucket on every engine and every run. -#}
{% macro hash_bucket(text, buckets) -%}
    {{ return(adapter.dispatch('hash_bucket', 'clm')(text, buckets)) }}
{%- endmacro %}

{% macro default__hash_bucket(text, buckets) -%}
    {{ exceptions.raise_compiler_error("hash_bucket has no body for " ~ target.type ~ ": add one to macros/cross_db/hash_bucket.sql") }}
{%- endmacro %}

{% macro duckdb__hash_bucket(text, buckets) -%}
    (cast(('0x' || left(md5({{ text }}), 8)) as ubigint) % {{ buckets }})
{%- endmacro %}

{% macro spark__hash_bucket(text, buckets) -%}
    pmod(cast(conv(left(md5({{ text }}), 8), 16, 10) as bigint), {{ buckets }})
{%- endmacro %}
