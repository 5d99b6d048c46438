{#- Every match of the pattern in the text, in order, as an array of strings. -#}
{% macro regexp_matches(text, pattern) -%}
    {{ return(adapter.dispatch('regexp_matches', 'clm')(text, pattern)) }}
{%- endmacro %}

{% macro default__regexp_matches(text, pattern) -%}
    regexp_extract_all({{ text }}, {{ pattern }})
{%- endmacro %}

{#- Spark's third argument is the group to return; 0 is the whole match. -#}
{% macro spark__regexp_matches(text, pattern) -%}
    regexp_extract_all({{ text }}, {{ pattern }}, 0)
{%- endmacro %}
